/**
 * `npm run email-events:schema`: writes docs/email-events.schema.json, the JSON Schema of every email
 * event the service emits, from the same definitions the service serves in its OpenAPI document.
 * A test fails when the committed file and the definitions disagree.
 */
import { writeFileSync } from 'node:fs'
import { emailEventsJsonSchema } from '../src/email-events/email-event.schemas.js'

const target = new URL('../docs/email-events.schema.json', import.meta.url)
writeFileSync(target, `${JSON.stringify(emailEventsJsonSchema(), null, 2)}\n`)
process.stdout.write(`wrote ${target.pathname}\n`)
