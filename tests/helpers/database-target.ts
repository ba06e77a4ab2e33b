export type TestDatabaseTarget =
  | { mode: 'postgres', templateUrl: string, source: 'TEST_DATABASE_URL' | 'testcontainers' }
  /** `templateFile`: the data directory of a migrated PGlite database (a tar), which each test file loads. */
  | { mode: 'pglite', source: 'pglite', templateFile: string }
