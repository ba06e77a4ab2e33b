export type TestDatabaseTarget =
  | { mode: 'postgres', templateUrl: string, source: 'TEST_DATABASE_URL' | 'testcontainers' }
  | { mode: 'pglite', source: 'pglite' }
