import { afterEach, describe, expect, it } from 'vitest';
import { startFakeAzure } from './azure.js';
import { startFakeSsm } from './ssm.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of cleanup.splice(0)) await stop();
});

function ssmCall(url: string, op: string, body: unknown, key = 'AKIDFAKE') {
  return fetch(`${url}/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `AmazonSSM.${op}`,
      'x-amz-date': '20260301T100000Z',
      authorization: `AWS4-HMAC-SHA256 Credential=${key}/20260301/us-east-1/ssm/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=${'a'.repeat(64)}`,
    },
    body: JSON.stringify(body),
  });
}

describe('fake SSM', () => {
  it('enforces the documented MaxResults range of DescribeInstancePatches', async () => {
    const ssm = await startFakeSsm({ accessKeyId: 'AKIDFAKE' });
    cleanup.push(() => ssm.stop());
    ssm.instance('i-0123456789abcdef0');
    const res = await ssmCall(ssm.url, 'DescribeInstancePatches', {
      InstanceId: 'i-0123456789abcdef0',
      MaxResults: 5,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ __type: 'ValidationException' });
  });

  it('answers an unknown key with UnrecognizedClientException and records unknown fields as violations', async () => {
    const ssm = await startFakeSsm({ accessKeyId: 'AKIDFAKE' });
    cleanup.push(() => ssm.stop());
    const denied = await ssmCall(ssm.url, 'DescribeInstanceInformation', {}, 'AKIDOTHER');
    expect(await denied.json()).toMatchObject({ __type: 'UnrecognizedClientException' });
    await ssmCall(ssm.url, 'DescribeInstanceInformation', { Surprise: 1 });
    expect(ssm.server.takeProblems().violations.map((v) => v.kind)).toEqual(['ssm_protocol']);
  });

  it('refuses an executionTimeout outside 1…172800 seconds', async () => {
    const ssm = await startFakeSsm({ accessKeyId: 'AKIDFAKE' });
    cleanup.push(() => ssm.stop());
    ssm.instance('i-0123456789abcdef0').onShell(() => ({}));
    const res = await ssmCall(ssm.url, 'SendCommand', {
      InstanceIds: ['i-0123456789abcdef0'],
      DocumentName: 'AWS-RunShellScript',
      Parameters: { commands: ['true'], executionTimeout: ['172801'] },
    });
    expect(await res.json()).toMatchObject({ __type: 'InvalidParameters' });
  });
});

describe('fake Azure', () => {
  it('serves https only and refuses a missing bearer token or a wrong api-version', async () => {
    const azure = await startFakeAzure({
      subscriptionId: '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9',
      token: 't',
    });
    cleanup.push(() => azure.stop());
    expect(azure.url.startsWith('https://127.0.0.1:')).toBe(true);
    const path =
      '/subscriptions/0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9/providers/Microsoft.Compute/virtualMachines';
    const ask = (headers: Record<string, string>, version: string) =>
      new Promise<number>((resolve, reject) => {
        import('node:https').then(({ request }) => {
          const req = request(
            `${azure.url}${path}?api-version=${version}`,
            { ca: azure.ca, headers },
            (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            },
          );
          req.on('error', reject);
          req.end();
        }, reject);
      });
    expect(await ask({}, '2026-03-01')).toBe(401);
    expect(await ask({ authorization: 'Bearer t' }, '2020-01-01')).toBe(400);
    expect(azure.server.takeProblems().violations.map((v) => v.kind)).toEqual(['api_version']);
    expect(await ask({ authorization: 'Bearer t' }, '2026-03-01')).toBe(200);
  });
});
