import { randomBytes } from 'node:crypto'
import type { PaddleEvent } from './paddle.js'

/**
 * Plants distinctive values into every field the service must never keep: card and PayPal details,
 * address lines, tax ids, business contacts, free text, unconfigured custom_data keys. A scan for
 * SENTINEL_PATTERN anywhere afterwards proves the allow-list held.
 */
export const SENTINEL_MARK = 'SNTL'
export const SENTINEL_NUMBER = 8642097531
export const SENTINEL_PATTERN = `${SENTINEL_MARK}|${SENTINEL_NUMBER}`

const sentinel = (field: string): string => `${SENTINEL_MARK}-${field}-${randomBytes(4).toString('hex')}`

const cardDetails = () => ({
  type: 'card',
  card: {
    type: sentinel('brand'),
    last4: sentinel('last4'),
    expiry_month: SENTINEL_NUMBER,
    expiry_year: SENTINEL_NUMBER,
    cardholder_name: sentinel('cardholder'),
  },
  paypal: { email: `${sentinel('paypal')}@example.com`, reference: sentinel('paypal-reference') },
  south_korea_local_card: { type: sentinel('kr-card-type'), last4: sentinel('kr-last4') },
  underlying_details: { korea_local: { type: sentinel('kr-local') } },
})

const addressFields = () => ({
  first_line: sentinel('first-line'),
  second_line: sentinel('second-line'),
  city: sentinel('city'),
  postal_code: sentinel('postal-code'),
  region: sentinel('region'),
  description: sentinel('address-description'),
})

const billingDetails = () => ({
  enable_checkout: false,
  purchase_order_number: sentinel('po-number'),
  additional_information: sentinel('additional-info'),
  payment_terms: { interval: 'day', frequency: 14 },
})

export function plantSentinels<T extends PaddleEvent> (source: T): T {
  const event = structuredClone(source)
  const data = event.data
  const entity = event.event_type.split('.')[0]
  // Keys a checkout may add beside the account id: none of them is configured, none may be kept.
  data.custom_data = { ...(data.custom_data ?? {}), nickname: sentinel('custom-data'), card_hint: sentinel('custom-card') }
  data.tax_identifier = sentinel('tax-id')
  data.address = addressFields()
  switch (entity) {
    case 'transaction': {
      const payments = Array.isArray(data.payments) && data.payments.length > 0 ? data.payments : [{ status: 'error', amount: '100' }]
      data.payments = payments.map((payment: Record<string, unknown>) => ({ ...payment, method_details: cardDetails() }))
      data.billing_details = billingDetails()
      data.checkout = { url: `https://checkout.example.com/${sentinel('checkout-url')}` }
      break
    }
    case 'subscription':
      data.billing_details = billingDetails()
      break
    case 'address':
      Object.assign(data, addressFields(), { country_code: sentinel('country') })
      break
    case 'business':
      Object.assign(data, {
        name: sentinel('business-name'),
        company_number: sentinel('company-number'),
        tax_identifier: sentinel('business-tax-id'),
        contacts: [{ name: sentinel('contact-name'), email: `${sentinel('contact')}@example.com` }],
      })
      break
    case 'adjustment':
      data.reason = sentinel('adjustment-reason')
      break
    case 'customer':
      data.marketing_consent = sentinel('consent')
      data.locale = sentinel('locale')
      break
  }
  return event
}
