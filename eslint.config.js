import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'drizzle/**', '.data/**', 'coverage/**'] }),
  { rules: { 'no-console': 'error' } },
]
