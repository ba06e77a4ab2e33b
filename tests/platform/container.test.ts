/**
 * The container image, without a Docker engine: a lint of the Dockerfile and .dockerignore, then the
 * production artifact built as the Dockerfile builds it (the build context as `docker build` sees it
 * through .dockerignore, the build stage's COPY and npm steps, the final stage's COPY --from lines)
 * and run as an unprivileged user against PostgreSQL: the migrate step, readiness, a signed webhook
 * applied by the in-process worker, the HEALTHCHECK command and a clean SIGTERM.
 */
import { spawn, execFileSync } from 'node:child_process'
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join, posix } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signPaddlePayload } from '#src/paddle/signature.js'
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from '../helpers/database.js'
import { baseEnv, freePort, PROJECT_ROOT, spawnService, type ServiceProcess } from '../helpers/process.js'
import { BASE_TIME, freshIds, subscriptionEvent } from '../helpers/scenarios.js'

// ---------------------------------------------------------------------------------------------
// Reading the Dockerfile and .dockerignore
// ---------------------------------------------------------------------------------------------

interface Instruction { keyword: string, args: string }
interface Stage { image: string, name: string | undefined, instructions: Instruction[] }

/** Instructions with line continuations joined and comments (parser directives too) dropped. */
function parseDockerfile (text: string): Instruction[] {
  const instructions: Instruction[] = []
  let pending = ''
  for (const line of text.split('\n')) {
    const trimmed = line.trim()
    if (trimmed.startsWith('#') || (trimmed === '' && pending === '')) continue
    const continued = trimmed.endsWith('\\')
    pending += ` ${continued ? trimmed.slice(0, -1) : trimmed}`
    if (continued) continue
    const match = /^\s*(\S+)\s*(.*)$/s.exec(pending)
    if (match !== null) instructions.push({ keyword: (match[1] ?? '').toUpperCase(), args: (match[2] ?? '').trim() })
    pending = ''
  }
  return instructions
}

function parseStages (text: string): Stage[] {
  const stages: Stage[] = []
  for (const instruction of parseDockerfile(text)) {
    if (instruction.keyword === 'FROM') {
      const words = instruction.args.split(/\s+/).filter((word) => !word.startsWith('--'))
      const name = words[1]?.toUpperCase() === 'AS' ? words[2] : undefined
      stages.push({ image: words[0] ?? '', name, instructions: [] })
    } else {
      const stage = stages.at(-1)
      if (stage === undefined) throw new Error(`${instruction.keyword} before the first FROM`)
      stage.instructions.push(instruction)
    }
  }
  return stages
}

/** Flags (--from=build, --chown=...), sources and destination of a COPY, shell or JSON form. */
function parseCopy (args: string): { flags: Record<string, string>, sources: string[], destination: string } {
  const words = args.split(/\s+/)
  const flags: Record<string, string> = {}
  while (words[0]?.startsWith('--') === true) {
    const [key = '', value = ''] = (words.shift() ?? '').slice(2).split('=')
    flags[key] = value
  }
  const rest = words.join(' ')
  const paths = rest.startsWith('[') ? JSON.parse(rest) as string[] : words
  const destination = paths.at(-1)
  if (destination === undefined || paths.length < 2) throw new Error(`COPY ${args}: no source or destination`)
  return { flags, sources: paths.slice(0, -1), destination }
}

/** The argv of an exec-form (JSON array) CMD or HEALTHCHECK command; null for the shell form. */
function execForm (args: string): string[] | null {
  try {
    const argv: unknown = JSON.parse(args)
    return Array.isArray(argv) && argv.every((item) => typeof item === 'string') ? argv : null
  } catch {
    return null
  }
}

/** `--interval=15s ... CMD [...]`: the options and the command (exec form only). */
function parseHealthcheck (args: string): { options: string, argv: string[] } {
  const match = /^((?:--\S+\s+)*)CMD\s+(.*)$/s.exec(args)
  const argv = execForm(match?.[2] ?? '')
  if (match === null || argv === null) throw new Error(`HEALTHCHECK ${args}: expected the exec form, HEALTHCHECK [options] CMD ["node", ...]`)
  return { options: match[1] ?? '', argv }
}

function parseEnv (stage: Stage): Record<string, string> {
  const env: Record<string, string> = {}
  for (const { keyword, args } of stage.instructions) {
    if (keyword !== 'ENV') continue
    const pairs = args.includes('=') ? [...args.matchAll(/(\w+)=("[^"]*"|\S*)/g)].map((match) => [match[1], match[2]]) : [args.split(/\s+(.*)/s)]
    for (const [key, value] of pairs) if (key !== undefined && value !== undefined) env[key] = value.replace(/^"(.*)"$/s, '$1')
  }
  return env
}

/** One shell command per `&&`-separated part of each RUN. */
const runCommands = (stage: Stage): string[] => stage.instructions
  .filter((instruction) => instruction.keyword === 'RUN')
  .flatMap((instruction) => instruction.args.split('&&').map((command) => command.trim().replace(/\s+/g, ' ')))

/** A .dockerignore pattern as Docker reads it: anchored at the context root, `*` within a segment, `**` across. */
function dockerignorePattern (pattern: string): RegExp {
  let source = '^'
  for (let index = 0; index < pattern.length; index += 1) {
    const char = pattern[index] ?? ''
    if (char === '*') {
      if (pattern[index + 1] === '*') {
        index += 1
        if (pattern[index + 1] === '/') {
          index += 1
          source += '(?:.*/)?'
        } else {
          source += '.*'
        }
      } else {
        source += '[^/]*'
      }
    } else if (char === '?') {
      source += '[^/]'
    } else if (char === '\\' && index + 1 < pattern.length) {
      index += 1
      source += (pattern[index] ?? '').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
    } else {
      source += char.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
    }
  }
  return new RegExp(`${source}$`)
}

/** Whether `docker build` leaves a file out of the context: the last matching rule (on it or a parent folder) wins. */
function dockerignoreMatcher (text: string): (path: string) => boolean {
  const rules = text.split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negated = line.startsWith('!')
      const cleaned = posix.normalize((negated ? line.slice(1) : line).trim()).replace(/^\/+/, '').replace(/\/+$/, '')
      return { negated, pattern: dockerignorePattern(cleaned) }
    })
  return (path: string) => {
    const segments = path.split('/')
    const candidates = segments.map((_, index) => segments.slice(0, index + 1).join('/'))
    let excluded = false
    for (const rule of rules) {
      if (candidates.some((candidate) => rule.pattern.test(candidate))) excluded = !rule.negated
    }
    return excluded
  }
}

const dockerfileText = readFileSync(join(PROJECT_ROOT, 'Dockerfile'), 'utf8')
const dockerignoreText = readFileSync(join(PROJECT_ROOT, '.dockerignore'), 'utf8')
const stages = parseStages(dockerfileText)
const finalStage = stages.at(-1) as Stage
const buildStageOf = (stage: Stage): string | undefined => stage.instructions
  .filter((instruction) => instruction.keyword === 'COPY')
  .map((instruction) => parseCopy(instruction.args).flags.from)
  .find((from) => from !== undefined)

/** An official Node image, slim variant, pinned to major.minor.patch of an LTS line (even major). */
const PINNED_NODE_SLIM = /^(?:docker\.io\/)?(?:library\/)?node:(\d+)\.(\d+)\.(\d+)-(?:[a-z]+-)?slim(?:@sha256:[0-9a-f]{64})?$/

/** Whether a version satisfies an engines range of caret ranges joined by ||, the form package.json uses. */
function satisfiesCaretRanges (version: string, range: string): boolean {
  const [major = -1, minor = -1, patch = -1] = version.split('.').map(Number)
  return range.split('||').map((part) => part.trim()).some((part) => {
    const match = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(part)
    if (match === null) throw new Error(`engines.node: ${part}: this test reads ^major.minor.patch ranges only`)
    const [low1, low2, low3] = match.slice(1).map(Number)
    return major === low1 && (minor > (low2 ?? 0) || (minor === low2 && patch >= (low3 ?? 0)))
  })
}

describe('the Dockerfile', () => {
  it('has a named build stage and a final stage, every FROM a pinned Node LTS slim image', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2)
    expect(stages[0]?.name, 'the build stage is named (FROM ... AS build)').toMatch(/^\w[\w.-]*$/)
    for (const stage of stages) {
      const earlierStage = stages.some((other) => other !== stage && other.name === stage.image)
      if (earlierStage) continue
      expect(stage.image, 'never :latest').not.toMatch(/:latest\b/)
      const match = PINNED_NODE_SLIM.exec(stage.image)
      expect(match, `${stage.image}: node:<major>.<minor>.<patch>[-<debian>]-slim`).not.toBeNull()
      expect(Number(match?.[1]) % 2, `${stage.image}: an LTS line has an even major`).toBe(0)
      expect(Number(match?.[1])).toBeGreaterThanOrEqual(20)
    }
  })

  it('runs the Node the project names: one version in every FROM, the one .nvmrc gives and engines admits', () => {
    const versions = new Set(stages
      .filter((stage) => !stages.some((other) => other.name === stage.image))
      .map((stage) => PINNED_NODE_SLIM.exec(stage.image)?.slice(1, 4).join('.')))
    expect([...versions], 'every stage on the same Node').toHaveLength(1)
    const [version = ''] = versions
    expect(readFileSync(join(PROJECT_ROOT, '.nvmrc'), 'utf8').trim(), '.nvmrc names the image\'s Node').toBe(version)
    const engines = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node
    expect(satisfiesCaretRanges(version, engines), `engines.node ${engines} admits ${version}`).toBe(true)
    // The Node 20 of development machines and of CI's first test run stays supported.
    expect(satisfiesCaretRanges('20.19.0', engines), `engines.node ${engines} admits 20.19.0`).toBe(true)
    // .ci/run runs the suite on the image's Node too, reading the version from the Dockerfile: never a copy of it.
    expect(readFileSync(join(PROJECT_ROOT, '.ci/run'), 'utf8')).not.toContain(version)
  })

  it('builds in the build stage: npm ci, then npm run build, then npm prune --omit=dev', () => {
    const build = stages.find((stage) => stage.name === buildStageOf(finalStage))
    expect(build, 'the final stage copies from a named earlier stage').toBeDefined()
    const commands = runCommands(build as Stage)
    const position = (pattern: RegExp): number => commands.findIndex((command) => pattern.test(command))
    const install = position(/^npm ci\b/)
    const compile = position(/^npm run build\b/)
    const prune = position(/^npm prune\b.*--omit=dev\b/)
    expect(install, `npm ci in:\n${commands.join('\n')}`).toBeGreaterThanOrEqual(0)
    expect(compile, `npm run build after npm ci in:\n${commands.join('\n')}`).toBeGreaterThan(install)
    expect(prune, `npm prune --omit=dev after npm run build in:\n${commands.join('\n')}`).toBeGreaterThan(compile)
  })

  it('ships compiled code, migrations and production dependencies only, from the build stage', () => {
    const buildName = buildStageOf(finalStage)
    const copied = finalStage.instructions
      .filter((instruction) => instruction.keyword === 'COPY')
      .map((instruction) => parseCopy(instruction.args))
      .filter((copy) => copy.flags.from === buildName)
      .flatMap((copy) => copy.sources.map((source) => posix.basename(source.replace(/\/+$/, ''))))
    // package.json carries "type": "module", which the compiled ESM needs.
    expect(copied).toEqual(expect.arrayContaining(['dist', 'node_modules', 'drizzle', 'package.json']))
    for (const command of runCommands(finalStage)) {
      expect(command, 'no install in the final stage').not.toMatch(/\bnpm\s+(?:ci|install|i|add)\b|\b(?:yarn|pnpm)\b/)
    }
  })

  it('runs node dist/server.js in exec form as the non-root node user, exposes 3000', () => {
    const keywords = finalStage.instructions.map((instruction) => instruction.keyword)
    const cmdIndex = keywords.lastIndexOf('CMD')
    expect(cmdIndex).toBeGreaterThanOrEqual(0)
    expect(execForm(finalStage.instructions[cmdIndex]?.args ?? ''), 'CMD ["node", "dist/server.js"], exec form').toEqual(['node', 'dist/server.js'])
    const users = finalStage.instructions.map((instruction, index) => ({ ...instruction, index })).filter((instruction) => instruction.keyword === 'USER')
    expect(users.at(-1)?.args, 'the last USER of the final stage').toMatch(/^node(?::node)?$/)
    expect(users.at(-1)?.index).toBeLessThan(cmdIndex)
    const exposed = finalStage.instructions.filter((instruction) => instruction.keyword === 'EXPOSE').flatMap((instruction) => instruction.args.split(/\s+/))
    expect(exposed.some((port) => /^3000(?:\/tcp)?$/.test(port))).toBe(true)
  })

  it('has a HEALTHCHECK on /health/live written in Node, with no curl or wget in the image', () => {
    const healthchecks = finalStage.instructions.filter((instruction) => instruction.keyword === 'HEALTHCHECK')
    expect(healthchecks).toHaveLength(1)
    const { argv } = parseHealthcheck(healthchecks[0]?.args ?? '')
    expect(argv[0]).toBe('node')
    expect(argv.join(' ')).toContain('/health/live')
    expect(argv.join(' ')).toContain('process.env.PORT')
    for (const instruction of finalStage.instructions) expect(`${instruction.keyword} ${instruction.args}`).not.toMatch(/\b(?:curl|wget)\b/)
  })
})

describe('.dockerignore', () => {
  const ignored = dockerignoreMatcher(dockerignoreText)

  it('keeps dependencies, build output, local data, secrets, tests, benchmarks and history out of the context', () => {
    for (const path of ['node_modules/fastify/package.json', 'dist/server.js', '.data/pglite/PG_VERSION', '.env', '.env.local',
      '.env.production', 'tests/platform/container.test.ts', 'bench/run.ts', '.git/HEAD', 'coverage/index.html']) {
      expect(ignored(path), path).toBe(true)
    }
  })

  it('lets in what the build stage copies', () => {
    for (const path of ['package.json', 'package-lock.json', '.npmrc', 'tsconfig.json', 'tsconfig.build.json', 'src/server.ts',
      'src/db/migrate.ts', 'drizzle/meta/_journal.json', '.env.example']) {
      expect(ignored(path), path).toBe(false)
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Building the artifact as the image does
// ---------------------------------------------------------------------------------------------

const NOBODY = { uid: 65534, gid: 65534 }
const SECRET = 'pdl_ntfset_01jcontainer000000000000000000_ArtifactTestSecret000000000000'
const TOKEN = 'container-test-token-0123456789abcdef'

/** Only the machine basics: no npm_config_* of an enclosing `npm test`, which could point npm back at the repository. */
function cleanEnv (extra: Record<string, string> = {}): Record<string, string> {
  return { ...baseEnv(), NODE_OPTIONS: '', ...extra }
}

async function run (command: string, args: string[], cwd: string, env: Record<string, string>, user?: typeof NOBODY): Promise<{ code: number | null, output: string }> {
  return await new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], ...user })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, output }))
  })
}

async function mustRun (command: string, args: string[], cwd: string): Promise<void> {
  // The packages come from this machine's npm cache where it has them: the build steps are under
  // test, not the registry (seen here: a tarball taking 14 s to download, the step over 4 minutes).
  const { code, output } = await run(command, args, cwd, cleanEnv({ npm_config_prefer_offline: 'true' }))
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${String(code)}:\n${output.slice(-4000)}`)
}

/** The build context: the files git knows and the untracked ones it does not ignore, minus .dockerignore. */
function copyBuildContext (target: string): string[] {
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: PROJECT_ROOT, maxBuffer: 64 * 1024 * 1024 })
    .toString('utf8').split('\0').filter((path) => path !== '')
  const ignored = dockerignoreMatcher(dockerignoreText)
  const copied: string[] = []
  for (const path of listed) {
    const source = join(PROJECT_ROOT, path)
    // --cached still lists a tracked file deleted from the work tree, which docker would not see.
    if (ignored(path) || !existsSync(source)) continue
    mkdirSync(dirname(join(target, path)), { recursive: true })
    cpSync(source, join(target, path), { verbatimSymlinks: true })
    copied.push(path)
  }
  return copied
}

/** COPY as Docker does it: a folder's contents into the destination, files into a destination folder or onto a path. */
function applyCopy (args: string, stageRoot: string, workdir: string, context: string, stageRoots: Map<string, string>): void {
  const { flags, sources, destination } = parseCopy(args)
  const from = flags.from
  const sourceRoot = from === undefined ? context : stageRoots.get(from)
  if (sourceRoot === undefined) throw new Error(`COPY --from=${String(from)}: no such stage`)
  const destinationPath = join(stageRoot, posix.isAbsolute(destination) ? destination : posix.join(workdir, destination))
  const intoFolder = destination.endsWith('/') || destination === '.' || sources.length > 1 ||
    (existsSync(destinationPath) && statSync(destinationPath).isDirectory())
  for (const source of sources) {
    // Sources are relative to the context, or to the root of the stage copied from.
    const sourcePath = join(sourceRoot, from === undefined ? posix.normalize(source).replace(/^\/+/, '') : posix.resolve('/', source))
    if (!existsSync(sourcePath)) throw new Error(`COPY ${args}: ${source} not found (docker build would fail)`)
    if (statSync(sourcePath).isDirectory()) {
      cpSync(sourcePath, destinationPath, { recursive: true, verbatimSymlinks: true })
    } else {
      const target = intoFolder ? join(destinationPath, basename(sourcePath)) : destinationPath
      mkdirSync(dirname(target), { recursive: true })
      cpSync(sourcePath, target, { verbatimSymlinks: true })
    }
  }
}

/** The npm steps of the build stage, as the Dockerfile orders them (with the npm cache and no audit/fund calls). */
const BUILD_STEPS: Array<{ pattern: RegExp, args: string[] }> = [
  { pattern: /^npm ci$/, args: ['ci', '--no-audit', '--no-fund', '--prefer-offline'] },
  { pattern: /^npm run build$/, args: ['run', 'build'] },
  { pattern: /^npm prune --omit=dev$/, args: ['prune', '--omit=dev', '--no-audit', '--no-fund'] },
]

/**
 * Plays the Dockerfile's stages into folders under `root`: WORKDIR, COPY (from the context or an
 * earlier stage), ENV and the build stage's npm steps. Anything else that would change the files
 * (ADD, another RUN) is refused rather than silently skipped: extend this emulation with it.
 */
async function buildStages (root: string, context: string): Promise<{ workdir: string, env: Record<string, string> }> {
  const stageRoots = new Map<string, string>()
  let last = { workdir: '', env: {} as Record<string, string> }
  for (const [index, stage] of stages.entries()) {
    const stageRoot = join(root, `stage-${index}`)
    mkdirSync(stageRoot, { recursive: true })
    let workdir = '/'
    for (const { keyword, args } of stage.instructions) {
      if (keyword === 'WORKDIR') {
        workdir = posix.resolve(workdir, args)
        mkdirSync(join(stageRoot, workdir), { recursive: true })
      } else if (keyword === 'COPY') {
        applyCopy(args, stageRoot, workdir, context, stageRoots)
      } else if (keyword === 'RUN') {
        for (const command of args.split('&&').map((part) => part.trim().replace(/\s+/g, ' '))) {
          const step = BUILD_STEPS.find((candidate) => candidate.pattern.test(command))
          if (step === undefined) throw new Error(`RUN ${command}: not emulated by this test`)
          await mustRun('npm', step.args, join(stageRoot, workdir))
        }
      } else if (!['ENV', 'USER', 'EXPOSE', 'HEALTHCHECK', 'CMD', 'LABEL', 'ARG', 'ENTRYPOINT', 'STOPSIGNAL'].includes(keyword)) {
        throw new Error(`${keyword}: not emulated by this test`)
      }
    }
    if (stage.name !== undefined) stageRoots.set(stage.name, stageRoot)
    stageRoots.set(String(index), stageRoot)
    last = { workdir: join(stageRoot, workdir), env: parseEnv(stage) }
  }
  return last
}

/** Docker leaves the copied files owned by root; make sure an unprivileged user can read and traverse them. */
function grantRead (path: string): void {
  const stats = lstatSync(path)
  if (stats.isSymbolicLink()) return
  chmodSync(path, stats.mode | (stats.isDirectory() || (stats.mode & 0o100) !== 0 ? 0o005 : 0o004))
  if (stats.isDirectory()) for (const entry of readdirSync(path)) grantRead(join(path, entry))
}

async function eventually<T> (read: () => Promise<T>, accept: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (accept(value) || Date.now() > deadline) return value
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

describe.skipIf(skipWithoutPostgres('production-artifact'))('the production artifact, built as the image builds it, run as a non-root user', () => {
  let database: TestDatabase | undefined
  let root = ''
  let app: { workdir: string, env: Record<string, string> } | undefined
  let emptyDatabaseUrl = ''
  let adminUrl = ''
  let emptyDatabaseName = ''
  const services: ServiceProcess[] = []

  beforeAll(async () => {
    // The artifact runs as an unprivileged user on this test's own node: that user must be able to run it.
    const probe = await run(process.execPath, ['--version'], tmpdir(), cleanEnv(), NOBODY).catch((error: unknown) => ({ code: null, output: String(error) }))
    if (probe.code !== 0) {
      throw new Error(`${process.execPath} cannot be run by uid ${NOBODY.uid}, as this test runs the artifact: put that node where every user can read it (${probe.output.trim()})`)
    }
    database = await createTestDatabase()
    root = mkdtempSync(join(tmpdir(), 'billing-image-'))
    // The test database is already migrated: the migrate step gets an empty database of its own.
    const url = new URL(database.url as string)
    emptyDatabaseName = `${decodeURIComponent(url.pathname.slice(1))}_image`.slice(0, 63)
    url.pathname = `/${emptyDatabaseName}`
    emptyDatabaseUrl = url.toString()
    url.pathname = '/postgres'
    adminUrl = url.toString()
    const admin = new pg.Client({ connectionString: adminUrl })
    await admin.connect()
    try {
      await admin.query(`CREATE DATABASE "${emptyDatabaseName}"`)
    } finally {
      await admin.end()
    }
  })

  afterAll(async () => {
    for (const service of services) if (service.child.exitCode === null && service.child.signalCode === null) service.child.kill('SIGKILL')
    await Promise.all(services.map(async (service) => await service.exited))
    // Guarded: a failed beforeAll leaves some of these unset, and its own error is the one to see.
    if (root !== '') rmSync(root, { recursive: true, force: true })
    if (emptyDatabaseName !== '') {
      const admin = new pg.Client({ connectionString: adminUrl })
      await admin.connect()
      try {
        await admin.query(`DROP DATABASE IF EXISTS "${emptyDatabaseName}" WITH (FORCE)`)
      } finally {
        await admin.end()
      }
    }
    await database?.drop()
  })

  it('builds from the .dockerignore context: npm ci, build, prune; production dependencies only', async () => {
    const context = join(root, 'context')
    const copied = copyBuildContext(context)
    expect(copied).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'src/server.ts', 'drizzle/meta/_journal.json']))
    for (const absent of ['tests', 'bench', 'node_modules', 'dist', '.data', '.git', '.env']) {
      expect(existsSync(join(context, absent)), `${absent} in the build context`).toBe(false)
    }

    const built = await buildStages(root, context)
    const modules = join(built.workdir, 'node_modules')
    for (const devDependency of ['vitest', 'typescript', 'tsx', 'eslint', 'drizzle-kit', 'testcontainers', 'fast-check']) {
      expect(existsSync(join(modules, devDependency)), `${devDependency} in the image`).toBe(false)
    }
    for (const dependency of ['fastify', 'pg', 'drizzle-orm', 'pino']) expect(existsSync(join(modules, dependency)), dependency).toBe(true)
    for (const shipped of ['dist/server.js', 'dist/worker.js', 'dist/db/migrate.js', 'drizzle/meta/_journal.json', 'package.json']) {
      expect(existsSync(join(built.workdir, shipped)), shipped).toBe(true)
    }
    for (const absent of ['tests', 'bench', 'src', '.env', 'dist/tests']) expect(existsSync(join(built.workdir, absent)), absent).toBe(false)

    chmodSync(root, 0o755)
    grantRead(root)
    app = built
  }, 480_000)

  it('applies every migration to an empty database with node dist/db/migrate.js, naming the database but not the password', async () => {
    expect(app, 'the artifact was built').toBeDefined()
    const { workdir, env } = app as { workdir: string, env: Record<string, string> }
    // A password in the URL, to see that it is never printed (this machine's server trusts local connections:
    // one that checks passwords has them in TEST_DATABASE_URL already).
    const url = new URL(emptyDatabaseUrl)
    if (url.password === '') url.password = 'NotPrinted-7f3a9c'
    const password = decodeURIComponent(url.password)
    const target = `database "${emptyDatabaseName}" on ${url.hostname}:${url.port === '' ? '5432' : url.port}`
    const journal = JSON.parse(readFileSync(join(workdir, 'drizzle/meta/_journal.json'), 'utf8')) as { entries: Array<{ tag: string }> }
    const tags = journal.entries.map((entry) => entry.tag)

    const first = await run(process.execPath, ['dist/db/migrate.js'], workdir, cleanEnv({ ...env, DATABASE_URL: url.toString() }), NOBODY)
    expect(first.code, first.output).toBe(0)
    expect(first.output).toBe(`Migrating ${target}\nApplied ${tags.length} migrations to ${target}: ${tags.join(', ')}\n`)
    const again = await run(process.execPath, ['dist/db/migrate.js'], workdir, cleanEnv({ ...env, DATABASE_URL: url.toString() }), NOBODY)
    expect(again.code, again.output).toBe(0)
    expect(again.output).toBe(`Migrating ${target}\nNo migrations pending: ${target} is at ${tags.at(-1) ?? ''}\n`)
    for (const output of [first.output, again.output]) expect(output).not.toContain(password)

    const client = new pg.Client({ connectionString: emptyDatabaseUrl })
    await client.connect()
    try {
      const { rows } = await client.query<{ count: string }>('SELECT count(*)::text AS count FROM drizzle.__drizzle_migrations')
      expect(Number(rows[0]?.count)).toBe(journal.entries.length)
    } finally {
      await client.end()
    }
  })

  it('refuses to start without DATABASE_URL, as the image starts it (NODE_ENV=production): no embedded database', async () => {
    expect(app, 'the artifact was built').toBeDefined()
    const { workdir, env } = app as { workdir: string, env: Record<string, string> }
    expect(env.NODE_ENV, 'the final stage sets NODE_ENV=production').toBe('production')
    const [, ...cmd] = execForm(finalStage.instructions.findLast((instruction) => instruction.keyword === 'CMD')?.args ?? '') ?? []
    for (const [entry, extra] of [[cmd[0] ?? '', { PADDLE_WEBHOOK_SECRETS: SECRET, INTERNAL_API_TOKENS: TOKEN }], ['dist/worker.js', {}]] as const) {
      const { code, output } = await run(process.execPath, [entry], workdir, cleanEnv({ ...env, PORT: String(await freePort()), ...extra }), NOBODY)
      expect(code, `${entry}: ${output}`).toBe(78)
      expect(output.trim().split('\n'), entry).toEqual(['Invalid configuration:', expect.stringMatching(/^ {2}- DATABASE_URL: is required with NODE_ENV=production\b/)])
    }
    expect(existsSync(join(workdir, '.data')), 'no embedded database created').toBe(false)
  })

  it('serves: ready, a signed webhook applied to a granted entitlement, the HEALTHCHECK, and exit 0 on SIGTERM', async () => {
    expect(app, 'the artifact was built').toBeDefined()
    const { workdir, env } = app as { workdir: string, env: Record<string, string> }
    const port = await freePort()
    const service = spawnService('dist/server.js', {
      ...env,
      NODE_OPTIONS: '',
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: emptyDatabaseUrl,
      PADDLE_WEBHOOK_SECRETS: SECRET,
      INTERNAL_API_TOKENS: TOKEN,
      MIGRATE_ON_START: 'false',
    }, { cwd: workdir, ...NOBODY })
    services.push(service)
    expect(await service.listening).toBe(port)
    const status = readFileSync(`/proc/${String(service.child.pid)}/status`, 'utf8')
    expect(status).toMatch(/^Uid:\s+65534\s/m)
    const base = `http://127.0.0.1:${port}`

    const ready = await fetch(`${base}/health/ready`)
    expect(ready.status, await ready.clone().text()).toBe(200)

    // A subscription whose billing period started a minute ago; the signature carries the real clock.
    const ids = freshIds()
    const time = Math.floor((Date.now() - Date.parse(BASE_TIME)) / 1000) - 60
    const body = JSON.stringify(subscriptionEvent('subscription.created', ids, { status: 'active', time }))
    const delivered = await fetch(`${base}/webhooks/paddle`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'paddle-signature': signPaddlePayload(SECRET, body, Math.floor(Date.now() / 1000)) },
      body,
    })
    expect(delivered.status, await delivered.clone().text()).toBe(200)
    expect(await delivered.json()).toEqual({ received: true, duplicate: false })

    const entitlement = await eventually(async () => {
      const response = await fetch(`${base}/internal/accounts/${ids.account}/entitlement`, { headers: { authorization: `Bearer ${TOKEN}` } })
      return { status: response.status, body: await response.json() as { access?: string, reason?: string } }
    }, (answer) => answer.body.access === 'granted', 10_000)
    expect(entitlement.status).toBe(200)
    expect(entitlement.body, service.output()).toMatchObject({ accountId: ids.account, access: 'granted', reason: 'active' })

    // The image's HEALTHCHECK, as the container user, reading PORT from the environment.
    const healthcheck = finalStage.instructions.find((instruction) => instruction.keyword === 'HEALTHCHECK')
    const [command, ...args] = parseHealthcheck(healthcheck?.args ?? '').argv
    expect(command).toBe('node')
    const healthy = await run(process.execPath, args, workdir, cleanEnv({ ...env, PORT: String(port) }), NOBODY)
    expect(healthy.code, healthy.output).toBe(0)

    service.child.kill('SIGTERM')
    const exit = await service.exited
    expect(exit, service.output()).toEqual({ code: 0, signal: null })
    expect(service.output()).toContain('shut down cleanly')

    // And it reports a stopped server as unhealthy.
    const unhealthy = await run(process.execPath, args, workdir, cleanEnv({ ...env, PORT: String(port) }), NOBODY)
    expect(unhealthy.code).not.toBe(0)
  }, 60_000)
})
