/**
 * HTML from template literals, escaped by default: every interpolated value is text unless it is
 * itself the result of `html` (or of `trustedHtml`, for constants written in this folder).
 */
const HTML = Symbol('html')

export interface Html { readonly [HTML]: true, readonly text: string }
export type HtmlValue = Html | string | number | boolean | null | undefined | readonly HtmlValue[]

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\'': '&#39;' }

/** Text made safe inside an element or a quoted attribute value. */
export function escapeHtml (value: string): string {
  return value.replace(/[&<>"']/g, (character) => ESCAPES[character] ?? character)
}

function isHtml (value: unknown): value is Html {
  return typeof value === 'object' && value !== null && HTML in value
}

function render (value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return ''
  if (isHtml(value)) return value.text
  if (Array.isArray(value)) return value.map(render).join('')
  return escapeHtml(String(value))
}

export function html (strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let text = strings[0] ?? ''
  for (let index = 0; index < values.length; index += 1) text += render(values[index]) + (strings[index + 1] ?? '')
  return { [HTML]: true, text }
}

/** Markup written in this folder (the stylesheet), never anything that came from a request or a row. */
export function trustedHtml (text: string): Html {
  return { [HTML]: true, text }
}

/** A console URL: the path's segments and the query's values percent-encoded, empty values left out. */
export function consoleUrl (path: string, query: Record<string, string | number | undefined | null> = {}): string {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value))
  }
  const text = search.toString()
  return text === '' ? path : `${path}?${text}`
}
