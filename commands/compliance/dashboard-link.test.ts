import { beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/db.js';
import { createTestDeps, type TestDeps } from '../../test/deps.js';
import { commandContext, createActor, parsedArgs } from '../approvals/testing.js';
import { type ReportFleet, seedReportFleet } from '../reports/testing.js';
import { createDashboardLink, dashboardCommand, verifyDashboardToken } from './dashboard-link.js';

const db = useTestDatabase('dashboard-link');
let deps: TestDeps;
let fleet: ReportFleet;

beforeAll(async () => {
  deps = createTestDeps(db.current.sql);
  fleet = await seedReportFleet(db.current.sql, deps.clock.now());
});

const tokenOf = (url: string) => new URL(url).searchParams.get('t')!;

describe('/warden dashboard', () => {
  it('answers privately with a 15-minute link, on the trail', async () => {
    const result = await dashboardCommand.run(parsedArgs([]), commandContext(fleet.auditor, deps));
    expect(result.reply).toMatchObject({ visibility: 'private', header: 'Compliance dashboard' });
    const url = result.reply!.buttons![0]!.url!;
    expect(url).toMatch(
      new RegExp(`^http://localhost:3000/dashboard/auth\\?t=v1\\.${fleet.auditor.user.id}\\.\\d+\\.all\\.`),
    );
    const claims = await verifyDashboardToken(deps, tokenOf(url));
    expect(claims.expiresAt.getTime() - deps.clock.now().getTime()).toBe(15 * 60_000);
    expect(claims.user.handle).toBe('audrey');
    const [event] = await db.current.sql<{ actor: string; data: { scope: string } }[]>`
      select actor, data from audit_events where action = 'dashboard.link-issued'`;
    expect(event).toMatchObject({ actor: 'user:audrey', data: { scope: 'all' } });
  });

  it('scopes a link to one project, only one the user may read', async () => {
    const link = await createDashboardLink(deps, fleet.auditor, { project: 'alpha' });
    expect((await verifyDashboardToken(deps, tokenOf(link.url))).scope).toEqual({
      kind: 'project',
      slug: 'alpha',
    });
    await expect(createDashboardLink(deps, fleet.auditor, { project: 'beta' })).rejects.toMatchObject({
      code: 'forbidden',
    });
    await expect(createDashboardLink(deps, fleet.auditor, { project: '"><script>' })).rejects.toMatchObject({
      code: 'not_found',
    });
  });

  it('gives no link to someone without compliance:read, nor a link for a disabled user', async () => {
    const contractor = await createActor(db.current.sql, 'carl', [['contractor', fleet.alpha.id]]);
    await expect(createDashboardLink(deps, contractor)).rejects.toMatchObject({ code: 'forbidden' });
    const link = await createDashboardLink(deps, fleet.operator);
    await db.current.sql`update users set disabled = true where id = ${fleet.operator.user.id}`;
    await expect(verifyDashboardToken(deps, tokenOf(link.url))).rejects.toThrow(/disabled/);
    await db.current.sql`update users set disabled = false where id = ${fleet.operator.user.id}`;
  });

  it('keeps its signing key sealed in the secrets table, shared by every replica', async () => {
    const [secret] = await db.current.sql<
      { sealed: string }[]
    >`select sealed from secrets where name = 'dashboard-link-key'`;
    expect(secret!.sealed).toMatch(/^v1\./);
    // Another process (same database and master key) accepts the link.
    const link = await createDashboardLink(deps, fleet.admin);
    const other = createTestDeps(db.current.sql, { vault: deps.vault, clock: deps.clock });
    expect((await verifyDashboardToken(other, tokenOf(link.url))).userId).toBe(fleet.admin.user.id);
    // A process with another master key cannot even open the key, so it accepts nothing.
    const foreign = createTestDeps(db.current.sql, { clock: deps.clock });
    await expect(verifyDashboardToken(foreign, tokenOf(link.url))).rejects.toThrow(/master key/);
  });
});
