import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { InvalidRequestError, NotFoundError } from '../platform/errors.js'
import { AccountId, errorResponses, paddleId } from '../platform/schemas.js'
import { parseTimestamp } from '../platform/timestamps.js'
import { linkCustomerToAccount } from './accounts.repository.js'
import { Customer, Subscription, Transaction } from './billing.schemas.js'
import { findCustomer, findSubscriptions, findTransaction, listAccountTransactions, type TransactionCursor } from './billing.queries.js'
import { toCustomerResponse, toSubscriptionResponse, toTransactionResponse } from './billing.serializers.js'

const SubscriptionId = paddleId('sub', 'Paddle subscription id')
const CustomerId = paddleId('ctm', 'Paddle customer id')
const TransactionId = paddleId('txn', 'Paddle transaction id')

export const billingRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.database

  app.get('/subscriptions/:subscriptionId', {
    schema: {
      tags: ['billing'],
      summary: 'A subscription as last applied from Paddle',
      params: Type.Object({ subscriptionId: SubscriptionId }),
      response: { 200: Subscription, ...errorResponses },
    },
  }, async (request) => {
    const [subscription] = await findSubscriptions(db, { ids: [request.params.subscriptionId] })
    if (subscription === undefined) throw new NotFoundError('Subscription')
    return toSubscriptionResponse(subscription)
  })

  app.get('/customers/:customerId', {
    schema: {
      tags: ['billing'],
      summary: 'A customer (with personal data) and its subscriptions',
      params: Type.Object({ customerId: CustomerId }),
      response: { 200: Customer, ...errorResponses },
    },
  }, async (request) => {
    const customer = await findCustomer(db, request.params.customerId)
    if (customer === null) throw new NotFoundError('Customer')
    return toCustomerResponse(customer, await findSubscriptions(db, { customerId: customer.id }))
  })

  app.put('/customers/:customerId/account', {
    schema: {
      tags: ['billing'],
      summary: 'Link a Paddle customer to a TrackSera account by hand',
      description: 'Wins over what Paddle\'s custom_data implies for the customer. Subscriptions and transactions that carry their own account id keep it.',
      params: Type.Object({ customerId: CustomerId }),
      body: Type.Object({ accountId: AccountId }, { additionalProperties: false }),
      response: { 200: Type.Object({ customerId: Type.String(), accountId: Type.String() }), ...errorResponses },
    },
  }, async (request) => {
    const moved = await linkCustomerToAccount(app.database, request.params.customerId, request.body.accountId)
    // Other processes hear it by NOTIFY; this one answers the account's next entitlement read from the new state.
    app.entitlementCache.invalidate(moved)
    request.log.info({ customer_id: request.params.customerId }, 'customer linked to an account by hand')
    return { customerId: request.params.customerId, accountId: request.body.accountId }
  })

  app.get('/transactions/:transactionId', {
    schema: {
      tags: ['billing'],
      summary: 'A transaction: totals in minor units, payment attempts without card data',
      params: Type.Object({ transactionId: TransactionId }),
      response: { 200: Transaction, ...errorResponses },
    },
  }, async (request) => {
    const transaction = await findTransaction(db, request.params.transactionId)
    if (transaction === null) throw new NotFoundError('Transaction')
    return toTransactionResponse(transaction)
  })

  app.get('/accounts/:accountId/transactions', {
    schema: {
      tags: ['billing'],
      summary: 'An account\'s transactions, newest first',
      params: Type.Object({ accountId: AccountId }),
      querystring: Type.Object({
        limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
        cursor: Type.Optional(Type.String({ maxLength: 300, description: 'nextCursor of the previous page' })),
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({ transactions: Type.Array(Transaction), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
        ...errorResponses,
      },
    },
  }, async (request) => {
    const { limit, cursor } = request.query
    const after = cursor === undefined ? null : decodeCursor(cursor)
    const rows = await listAccountTransactions(db, request.params.accountId, limit + 1, after)
    const page = rows.slice(0, limit)
    const last = page.at(-1)
    return {
      transactions: page.map(toTransactionResponse),
      nextCursor: rows.length > limit && last !== undefined ? encodeCursor({ createdAt: last.paddleCreatedAt ?? '', id: last.id }) : null,
    }
  })
}

function encodeCursor (cursor: TransactionCursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt, cursor.id])).toString('base64url')
}

function decodeCursor (value: string): TransactionCursor {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as unknown[]
    const timestamp = parseTimestamp(createdAt)
    if (timestamp !== null && typeof id === 'string') return { createdAt: timestamp, id }
  } catch {}
  throw new InvalidRequestError('cursor is not a cursor this API returned')
}
