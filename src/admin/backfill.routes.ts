/**
 * For operators: the backfill of everything Paddle has (src/reconcile/backfill.ts says how). A
 * backfill of years takes minutes to hours (Paddle serves 30 transactions a page, 240 requests a
 * minute), longer than any HTTP client should wait: POST starts it as a job and answers 202 at once
 * with its run id; GET follows it, from any replica (the record is in the database).
 */
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { BackfillBusyError, totalsOf, type BackfillProgress } from '../reconcile/backfill.js'
import { findRun, latestRuns, type BackfillRunRow } from '../reconcile/backfill.repository.js'
import type { Reconciler } from '../reconcile/reconciler.js'
import { ConflictError, NotFoundError, ReconciliationOffError } from '../platform/errors.js'
import { ErrorResponse, errorResponses, Nullable, NullableTimestamp, paddleId, Timestamp } from '../platform/schemas.js'

export interface BackfillRoutesOptions {
  /** Null when PADDLE_API_KEY is not set. */
  reconciler: Reconciler | null
}

const Counts = {
  created: Type.Integer({ description: 'Not stored here before; now it is' }),
  updated: Type.Integer({ description: 'Stored at an older version; now at Paddle\'s' }),
  unchanged: Type.Integer({ description: 'Stored at exactly this version already (an earlier backfill)' }),
  stale: Type.Integer({ description: 'Ours is newer (a webhook brought a later change): left alone' }),
  failed: Type.Integer({ description: 'Could not be applied: see GET /internal/admin/events?status=failed' }),
}

const EntityProgress = Type.Object({
  pages: Type.Integer(),
  listed: Type.Integer(),
  estimatedTotal: Nullable(Type.Integer({ description: 'Paddle\'s estimate of the whole list' })),
  ...Counts,
  cursor: Nullable(Type.String({ description: 'The last id done; an unfinished pass resumes after it' })),
  done: Type.Boolean(),
})

const BackfillRun = Type.Object({
  id: Type.String(),
  dryRun: Type.Boolean({ description: 'A dry run writes no state, inbox rows or cursors: its counts say what a real run would do' }),
  trigger: Type.String({ description: 'cli (npm run paddle:backfill) or api' }),
  status: Type.Union([Type.Literal('running'), Type.Literal('completed'), Type.Literal('failed'), Type.Literal('interrupted')], {
    description: 'interrupted: stopped (shutdown, killed) before the end; the next run resumes after its last page',
  }),
  startedAt: Timestamp,
  updatedAt: Type.String({ format: 'date-time', description: 'Written after every page' }),
  finishedAt: NullableTimestamp,
  error: Nullable(Type.String()),
  totals: Type.Object({ listed: Type.Integer(), ...Counts }),
  entities: Type.Object({
    customers: EntityProgress,
    subscriptions: EntityProgress,
    transactions: EntityProgress,
    adjustments: EntityProgress,
  }),
})

function runView (row: BackfillRunRow): Static<typeof BackfillRun> {
  const entities = row.progress as unknown as BackfillProgress
  return {
    id: row.id,
    dryRun: row.dryRun,
    trigger: row.trigger,
    status: row.status,
    startedAt: row.startedAt,
    updatedAt: row.updatedAt,
    finishedAt: row.finishedAt,
    error: row.error,
    totals: totalsOf(entities),
    entities,
  }
}

const runId = paddleId('bfr', 'Backfill run id')

export const backfillRoutes: FastifyPluginAsyncTypebox<BackfillRoutesOptions> = async (app, options) => {
  const backfiller = options.reconciler?.backfiller ?? null
  // At shutdown the job stops after the page in hand, its cursor saved, and its record says interrupted.
  app.addHook('onClose', async () => { await backfiller?.stop() })

  app.post('/admin/backfill', {
    schema: {
      tags: ['admin'],
      summary: 'Start a backfill of everything Paddle has: customers, subscriptions, transactions, adjustments',
      description: 'Answers 202 at once with the run; follow it with GET /internal/admin/backfill/{runId}. ' +
        'Each entity goes through the inbox and the worker as an event of origin backfill (no email events); ' +
        'an entity already as new here is left alone. An unfinished pass is resumed unless restart=true. ' +
        '409 while another backfill runs.',
      querystring: Type.Object({
        dryRun: Type.Boolean({ default: true, description: 'Count what a real run would change, writing nothing' }),
        restart: Type.Boolean({ default: false, description: 'Start from the first entity even if a pass was left unfinished' }),
      }, { additionalProperties: false }),
      response: { 202: BackfillRun, ...errorResponses, 409: ErrorResponse, 501: ErrorResponse },
    },
  }, async (request, reply) => {
    if (backfiller === null) throw new ReconciliationOffError()
    let started: { runId: string }
    try {
      started = await backfiller.start({ dryRun: request.query.dryRun, restart: request.query.restart, trigger: 'api' })
    } catch (error) {
      if (error instanceof BackfillBusyError) throw new ConflictError(error.message)
      throw error
    }
    const row = await findRun(app.database, started.runId)
    if (row === null) throw new NotFoundError(`backfill run ${started.runId}`)
    return await reply.code(202).header('location', `/internal/admin/backfill/${started.runId}`).send(runView(row))
  })

  app.get('/admin/backfill/:runId', {
    schema: {
      tags: ['admin'],
      summary: 'One backfill run: its status, counts per entity type and cursors',
      params: Type.Object({ runId }),
      response: { 200: BackfillRun, ...errorResponses },
    },
  }, async (request) => {
    const row = await findRun(app.database, request.params.runId)
    if (row === null) throw new NotFoundError(`backfill run ${request.params.runId}`)
    return runView(row)
  })

  app.get('/admin/backfill', {
    schema: {
      tags: ['admin'],
      summary: 'The latest backfill runs, newest first',
      querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }) }, { additionalProperties: false }),
      response: { 200: Type.Object({ runs: Type.Array(BackfillRun) }), ...errorResponses },
    },
  }, async (request) => ({ runs: (await latestRuns(app.database, request.query.limit)).map(runView) }))
}
