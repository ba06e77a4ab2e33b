import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { nowTimestamp, type Clock } from '../platform/clock.js'
import { AccountId, errorResponses, paddleId, Timestamp } from '../platform/schemas.js'
import { erasePersonalData } from './erasure.js'
import { exportAccount } from './export.js'

export const privacyRoutes: FastifyPluginAsyncTypebox<{ clock: Clock }> = async (app, options) => {
  app.get('/accounts/:accountId/export', {
    schema: {
      tags: ['privacy'],
      summary: 'Everything this service holds about an account (access and portability requests)',
      description: 'Customers with name and email, subscriptions, transactions, adjustments, email events and erasures, as one JSON document.',
      params: Type.Object({ accountId: AccountId }),
      response: { 200: Type.Object({}, { additionalProperties: true, description: 'The account export' }), ...errorResponses },
    },
  }, async (request, reply) => {
    const document = await exportAccount(app.database.db, request.params.accountId, nowTimestamp(options.clock))
    request.log.info({ account_id: request.params.accountId, customers: document.customers.length }, 'account exported')
    return await reply.header('content-disposition', `attachment; filename="tracksera-billing-${request.params.accountId}.json"`).send(document)
  })

  app.delete('/customers/:customerId/personal-data', {
    schema: {
      tags: ['privacy'],
      summary: 'Erase a customer\'s name and email (erasure requests)',
      description: 'Idempotent. Ids, amounts, invoice numbers and dates stay for the retention period; the erasure itself is recorded without the erased values. ' +
        'Paddle data from before the erasure never brings the values back; a customer Paddle changes afterwards does.',
      params: Type.Object({ customerId: paddleId('ctm', 'Paddle customer id') }),
      response: {
        200: Type.Object({ customerId: Type.String(), erasedAt: Timestamp, firstErasedAt: Timestamp, requests: Type.Integer() }),
        ...errorResponses,
      },
    },
  }, async (request) => {
    const result = await erasePersonalData(app.database, request.params.customerId)
    request.log.info({ customer_id: result.customerId, requests: result.requests }, 'customer personal data erased')
    return result
  })
}
