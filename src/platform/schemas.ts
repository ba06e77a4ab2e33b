// Building blocks of the route schemas, which validate requests, serialise responses and make the OpenAPI document.
import { Type, type TSchema } from '@sinclair/typebox'

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

export const Timestamp = Type.String({ format: 'date-time', description: 'RFC 3339, UTC, microseconds' })
export const NullableTimestamp = Nullable(Timestamp)

/** Amounts in the currency's minor units, as a decimal string (never a float). */
export const MinorUnits = Type.String({ pattern: '^-?[0-9]+$', description: 'Amount in minor units, as a decimal string' })

export const ErrorResponse = Type.Object({
  code: Type.String(),
  message: Type.String(),
}, { description: 'An error: a stable code and a human-readable message' })

/** Paddle ids: prefix, underscore, lowercase letters and digits. */
export const paddleId = (prefix: string, description: string) =>
  Type.String({ pattern: `^${prefix}_[a-z0-9]{1,64}$`, description })

export const AccountId = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$',
  description: 'TrackSera account id (as passed to checkout in custom_data)',
})

export const errorResponses = {
  400: ErrorResponse,
  401: ErrorResponse,
  404: ErrorResponse,
}
