import net from 'node:net';
import tls from 'node:tls';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../test/db.js';
import { createSelfSignedCertificate } from '../test/fakes/strict-http-tls.js';
import { connect, type Sql, withTx } from './db.js';

const db = useTestDatabase('db');

/** A client on the test database with a tiny pool and pipeline, where postgres.js's sql.begin() breaks. */
function tightClient(options: { max: number; maxPipeline: number }): Sql {
  const t = db.current.target;
  // max_pipeline is a postgres.js option its type declarations leave out.
  const settings = {
    host: t.host,
    port: t.port,
    user: t.user,
    password: t.password,
    database: t.database,
    max: options.max,
    max_pipeline: options.maxPipeline,
    onnotice: () => {},
    connection: { application_name: 'warden-db-test', ...(t.schema ? { search_path: t.schema } : {}) },
  };
  return postgres(settings as postgres.Options<Record<string, never>>);
}

describe('withTx', () => {
  it('commits what fn wrote, and rolls all of it back when fn throws', async () => {
    const sql = db.current.sql;
    await sql`create table tx_probe (id int primary key, v text not null)`;
    await withTx(sql, async (tx) => {
      await tx`insert into tx_probe values (1, 'kept')`;
    });
    await expect(
      withTx(sql, async (tx) => {
        await tx`insert into tx_probe values (2, 'lost')`;
        throw new Error('half way');
      }),
    ).rejects.toThrow('half way');
    // A failed statement aborts the transaction; the rollback still runs and the error is the statement's.
    await expect(
      withTx(sql, async (tx) => {
        await tx`insert into tx_probe values (3, 'lost too')`;
        await tx`insert into tx_probe values (1, 'duplicate')`;
      }),
    ).rejects.toThrow(/duplicate key/);
    const rows = await sql<{ id: number }[]>`select id from tx_probe order by id`;
    expect(rows.map((r) => r.id)).toEqual([1]);
  });

  it('works where sql.begin() cannot reserve its connection (max_pipeline 0, porsager/postgres#1210)', async () => {
    const sql = tightClient({ max: 2, maxPipeline: 0 });
    try {
      const got = await withTx(sql, async (tx) => {
        const [row] = await tx<{ n: number }[]>`select 41 + 1 as n`;
        return row!.n;
      });
      expect(got).toBe(42);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  it('keeps transactions and other queries apart on a busy pool at the pipeline boundary (#1189, #823)', async () => {
    // #823's reproduction: every connection busy, then ordinary queries and transactions together.
    // With sql.begin() in place of withTx this fails with UNSAFE_TRANSACTION (27 failures in 10 rounds of it
    // on 3.4.9, standalone).
    const sql = tightClient({ max: 3, maxPipeline: 2 });
    try {
      for (let round = 0; round < 3; round += 1) {
        const busy = [0, 1, 2].map(() => sql`select pg_sleep(0.1)`);
        await new Promise((resolve) => setTimeout(resolve, 20));
        const outside: Promise<boolean>[] = [];
        const inside: Promise<number>[] = [];
        for (let i = 0; i < 6; i += 1) {
          // Run inside one of the transactions below, it would see that transaction's marker.
          outside.push(
            sql<{ inTx: boolean }[]>`
              select current_setting('application_name') = 'warden-in-tx' as "inTx"`.then(
              (rows) => rows[0]!.inTx,
            ),
          );
        }
        for (let i = 0; i < 5; i += 1) {
          inside.push(
            withTx(sql, async (tx) => {
              await tx`set local application_name = 'warden-in-tx'`;
              const [row] = await tx<{ n: number }[]>`select ${i}::int as n`;
              return row!.n;
            }),
          );
        }
        await Promise.all(busy);
        expect(await Promise.all(inside)).toEqual([0, 1, 2, 3, 4]);
        expect(await Promise.all(outside)).toEqual([false, false, false, false, false, false]);
      }
    } finally {
      await sql.end({ timeout: 5 });
    }
  });
});

describe('connect', () => {
  it('names the server (SNI) when it upgrades its own TCP socket to TLS', async () => {
    // A stand-in server: says yes to PostgreSQL's SSLRequest, then completes a TLS handshake and
    // notes the name the client asked for. Managed PostgreSQL services route by that name.
    const { key, cert } = await createSelfSignedCertificate();
    const names: (string | false)[] = [];
    const server = net.createServer((raw) => {
      raw.once('data', () => {
        raw.write('S');
        const secure = new tls.TLSSocket(raw, { isServer: true, key, cert });
        secure.on('secure', () => {
          names.push((secure as tls.TLSSocket & { servername?: string | false }).servername ?? false);
          secure.destroy();
        });
        secure.on('error', () => {});
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const sql = connect(
      { host: 'localhost', port, user: 'u', database: 'd', embedded: false, ssl: true },
      { max: 1 },
    );
    try {
      // The stand-in hangs up after the handshake; the query never gets further (and may retry).
      sql`select 1`.catch(() => {});
      for (let i = 0; i < 100 && names.length === 0; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(names[0]).toBe('localhost');
    } finally {
      await sql.end({ timeout: 0 });
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
