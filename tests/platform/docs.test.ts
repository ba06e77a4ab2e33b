import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ConfigSchema } from '#src/platform/config.js'
import { PROJECT_ROOT } from '../helpers/process.js'

const read = (file: string): string => readFileSync(`${PROJECT_ROOT}${file}`, 'utf8')

describe('configuration documentation', () => {
  const variables = Object.keys(ConfigSchema.properties)

  it.each(['README.md', '.env.example'])('%s names every variable the service reads', (file) => {
    const text = read(file)
    expect(variables.filter((name) => !text.includes(name))).toEqual([])
  })

  it('gives every variable a description in the schema', () => {
    const properties = ConfigSchema.properties as Record<string, { description?: string }>
    expect(variables.filter((name) => (properties[name]?.description ?? '') === '')).toEqual([])
  })

  it('keeps README\'s quick start and CI on the same test command', () => {
    expect(read('README.md')).toContain('npm ci && npm run dev')
    expect(read('README.md')).toContain('npm test')
    expect(read('.ci/run')).toMatch(/^npm test$/m)
  })
})
