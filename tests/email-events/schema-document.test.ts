import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { EMAIL_EVENT_TYPES, emailEventsJsonSchema } from '#src/email-events/email-event.schemas.js'
import { PROJECT_ROOT } from '../helpers/process.js'

describe('docs/email-events.schema.json', () => {
  it('is the JSON Schema of the definitions the service uses (run npm run email-events:schema after changing them)', () => {
    const committed = JSON.parse(readFileSync(`${PROJECT_ROOT}docs/email-events.schema.json`, 'utf8')) as unknown
    expect(committed).toEqual(emailEventsJsonSchema())
  })

  it('documents every email event type', () => {
    const defs = Object.keys(emailEventsJsonSchema().$defs as Record<string, unknown>)
    expect(defs).toEqual(EMAIL_EVENT_TYPES.map((type) => `EmailEvent.${type}`))
    expect(EMAIL_EVENT_TYPES).toHaveLength(13)
  })
})
