import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, pgPool, type Sql, withTx } from './db.js';
import { type EmbeddedDatabase, startEmbedded } from './embedded.js';

// Embedded PGlite is one session shared by every connection of the socket server.
describe('the embedded database', () => {
  let dir: string;
  let embedded: EmbeddedDatabase;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'wd-emb-'));
    embedded = await startEmbedded({ dataDir: dir, inMemory: true });
    const sql = connect(embedded.target, { max: 1 });
    await sql`create table t (id int primary key, v text not null)`;
    await sql.end();
  });
  afterAll(async () => {
    await embedded.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps concurrent parameterised queries from several connections apart', async () => {
    const a: Sql = connect(embedded.target, { max: 4 });
    const pool = pgPool(embedded.target, 2);
    try {
      const work: Promise<unknown>[] = [];
      for (let i = 0; i < 150; i++) {
        work.push(
          a`select ${i}::int as n, ${`x${i}`}::text as s`.then(([row]) => {
            expect(row).toEqual({ n: i, s: `x${i}` });
          }),
        );
        work.push(
          pool.query('select $1::int + 1 as n', [i]).then((r) => {
            expect(r.rows[0].n).toBe(i + 1);
          }),
        );
        if (i % 10 === 0) {
          work.push(
            withTx(a, async (tx) => {
              await tx`insert into t (id, v) values (${i}, ${`row ${i}`})`;
              const [row] = await tx<{ v: string }[]>`select v from t where id = ${i}`;
              expect(row!.v).toBe(`row ${i}`);
            }),
          );
        }
      }
      await Promise.all(work);
      const [count] = await a<{ n: number }[]>`select count(*)::int as n from t`;
      expect(count!.n).toBe(15);
    } finally {
      await a.end();
      await pool.end();
    }
  });
});
