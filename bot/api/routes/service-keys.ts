import { z } from 'zod';
import {
  createWardenServiceKey,
  listWardenServiceKeys,
  ServiceKeyCreate,
} from '../../../commands/keys/service-keys.js';
import { type ApiRoute, defineRoute } from '../registry.js';

const ServiceKeyView = z.object({
  scope: z.string(),
  fingerprint: z.string(),
  keyType: z.string(),
  owner: z.string(),
  createdAt: z.iso.datetime(),
  nextRotationAt: z.iso.datetime().nullable(),
});

export const serviceKeyRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/service-keys',
    operationId: 'listServiceKeys',
    summary: "Warden's own SSH keys (ssh-key:<scope>), without their private keys (keys:manage globally)",
    tag: 'keys',
    permission: 'keys:manage',
    response: z.object({ items: z.array(ServiceKeyView) }),
    handler: async ({ deps, actor }) => ({
      items: (await listWardenServiceKeys(deps, actor)).map((k) => ({
        ...k,
        createdAt: k.createdAt.toISOString(),
        nextRotationAt: k.nextRotationAt?.toISOString() ?? null,
      })),
    }),
  }),
  defineRoute({
    method: 'post',
    path: '/service-keys',
    operationId: 'createServiceKey',
    summary: "Generate or import Warden's SSH key for a scope; returns the public key (keys:manage globally)",
    description:
      'The scope is a server name, an account name or `default` (what scans use when nothing more specific ' +
      'exists). Without privateKey an ed25519 pair is generated; with it, the key is imported. The private key ' +
      'is sealed and never returned; put `publicKey` in authorized_keys of the login Warden uses. The caller ' +
      'becomes the key owner, and rotation follows the keys policy.',
    tag: 'keys',
    permission: 'keys:manage',
    body: ServiceKeyCreate,
    response: z.object({
      scope: z.string(),
      publicKey: z.string(),
      fingerprint: z.string(),
      imported: z.boolean(),
    }),
    status: 201,
    handler: async ({ body, deps, actor, meta }) => createWardenServiceKey(deps, actor, body, meta),
  }),
];
