/**
 * `npm run entitlement-events:schema`: writes docs/entitlement-events.schema.json, the JSON Schema of
 * entitlement.changed, from the same definition the service serves in its OpenAPI document.
 * A test fails when the committed file and the definition disagree.
 */
import { writeFileSync } from 'node:fs'
import { entitlementEventsJsonSchema } from '../src/entitlements/entitlement-event.schemas.js'

const target = new URL('../docs/entitlement-events.schema.json', import.meta.url)
writeFileSync(target, `${JSON.stringify(entitlementEventsJsonSchema(), null, 2)}\n`)
process.stdout.write(`wrote ${target.pathname}\n`)
