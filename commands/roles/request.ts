import { z } from 'zod';
import { AppError } from '../../lib/errors.js';
import { withTx } from '../../storage/db.js';
import { getProjectBySlug } from '../../storage/inventory.js';
import { bindRole, listBindings } from '../../storage/users.js';
import { openApproval } from '../approvals/engine.js';
import type { ApprovalSubject } from '../approvals/subjects.js';
import { recordEvent } from '../audit/trail.js';
import { closest, quoteForMessage } from '../grammar.js';
import { isRole, ROLES, type Role } from '../rbac/roles.js';
import type { CommandSpec } from '../registry.js';

export const ROLE_REQUEST_SUBJECT = 'role-request';
const PROJECT_SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;
const MIN_REASON = 3;
const MAX_REASON = 500;
const USAGE = 'role request <role> on <project> reason "<why you need it>"';

/** What the approval carries for its hook; it is read back from the database, so it is checked. */
const RoleRequestData = z.object({
  userId: z.number().int().positive(),
  role: z.enum(ROLES),
  projectId: z.number().int().positive(),
});
type RoleRequestData = z.infer<typeof RoleRequestData>;

/** When a role request is approved, the binding is created in the same transaction, on the trail. */
export const roleRequestSubject: ApprovalSubject = {
  type: ROLE_REQUEST_SUBJECT,
  async onApproved(tx, deps, request, context) {
    const data = RoleRequestData.parse(request.details.data);
    const lastApprover = [...context.decisions].reverse().find((d) => d.decision === 'approve');
    await bindRole(tx, {
      userId: data.userId,
      role: data.role,
      projectId: data.projectId,
      grantedBy: lastApprover?.approverId ?? null,
    });
    await recordEvent(tx, deps, {
      actor: context.actor,
      action: 'role.bound',
      subject: { type: 'user', id: String(data.userId) },
      projectId: data.projectId,
      data: { ...data, approvalId: request.id, approvedBy: context.decisions.map((d) => d.approverHandle) },
    });
  },
};

function parseRole(word: string | undefined): Role {
  if (!word) throw new AppError('bad_request', `say which role you need.\nUsage: /warden ${USAGE}`);
  const role = word.toLowerCase();
  if (isRole(role)) return role;
  const guess = closest(role, ROLES);
  throw new AppError(
    'bad_request',
    `${quoteForMessage(word)} is not a role.${guess ? ` Did you mean ${guess}?` : ''} Roles are: ${ROLES.join(', ')}.`,
  );
}

function parseReason(text: string | undefined): string {
  const reason = text?.replace(/\s+/g, ' ').trim() ?? '';
  if (reason.length < MIN_REASON) {
    throw new AppError(
      'bad_request',
      `say why you need the role, so the approver can decide: reason "…".\nUsage: /warden ${USAGE}`,
    );
  }
  if (reason.length > MAX_REASON) {
    throw new AppError(
      'bad_request',
      `keep the reason under ${MAX_REASON} characters (it has ${reason.length})`,
    );
  }
  return reason;
}

/** `role request <role> on <project> reason "…"`: ask an admin for a role on a project. */
export const roleRequestCommand: CommandSpec = {
  path: ['role', 'request'],
  usage: USAGE,
  summary: 'Ask for a role on a project; a user admin approves it and the role is bound.',
  keywords: ['on', 'reason'],
  maxPositional: 1,
  async run(args, ctx) {
    const { deps, actor } = ctx;
    const role = parseRole(args.positional[0]);
    const slugText = args.keywords.on;
    if (!slugText)
      throw new AppError('bad_request', `say on which project: on <project>.\nUsage: /warden ${USAGE}`);
    const slug = slugText.toLowerCase();
    const reason = parseReason(args.keywords.reason);
    const project = PROJECT_SLUG.test(slug) ? await getProjectBySlug(deps.sql, slug) : undefined;
    if (!project) {
      throw new AppError(
        'not_found',
        `there is no project ${quoteForMessage(slugText)}; type \`projects\` to list them`,
      );
    }
    const held = (await listBindings(deps.sql, actor.user.id)).find(
      (b) => b.role === role && (b.projectId === null || b.projectId === project.id),
    );
    if (held) {
      const where = held.projectId === null ? 'on every project' : `on ${project.slug}`;
      throw new AppError('conflict', `you already hold ${role} ${where}; nothing to request`);
    }
    const data: RoleRequestData = { userId: actor.user.id, role, projectId: project.id };
    const opened = await withTx(deps.sql, (tx) =>
      openApproval(tx, deps, {
        subject: { type: ROLE_REQUEST_SUBJECT, id: `${data.userId}:${role}:${project.id}` },
        projectId: project.id,
        requester: actor,
        permission: 'users:manage',
        title: `${role} on ${project.slug} for ${actor.user.handle}`,
        details: [
          { label: 'Role', value: role },
          { label: 'For', value: `${actor.user.displayName} (${actor.user.handle})` },
          { label: 'Reason', value: reason },
        ],
        data: { ...data },
      }),
    );
    deps.kickOutbox?.();
    const who = opened.approvers.length
      ? `It waits for ${opened.approvers.map((u) => u.handle).join(', ')}.`
      : 'Nobody can approve it yet: ask an admin to look at it.';
    return {
      reply: {
        visibility: 'private',
        tone: 'success',
        text: `Request #${opened.request.id} for ${role} on ${project.slug} is open. ${who} You will get a message when it is decided.`,
      },
    };
  },
};
