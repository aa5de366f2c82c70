// Files Berth writes and then acknowledges must be on the disk, not only in
// the page cache, when it says OK: a power cut loses what was never
// fsync'ed, while Redis (appendfsync always) keeps the record that points at
// it. The cut is the kernel's own (test/harness/cuttable-disk.ts); kill -9
// of every process, as test/e2e/power-loss.test.ts does, cannot show this.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { dataPaths } from '../../services/core/paths.ts';
import { Store } from '../../services/core/store/index.ts';
import { certFile, installCert, removeCert } from '../../services/platform/certs/cert-files.ts';
import { makeCert } from '../harness/certs.ts';
import { cuttableDisk } from '../harness/cuttable-disk.ts';
import { redisClient, testPrefix } from '../harness/redis.ts';

const isRoot = process.getuid?.() === 0;

describe('a power cut after Berth acknowledged', { skip: !isRoot && 'needs root (mount)' }, () => {
  test('certs:add and certs:remove: the disk says what Redis says (a first certificate, a replacement, a removal)', async () => {
    const prefix = testPrefix();
    const store = new Store(await redisClient(prefix), prefix);
    const disk = await cuttableDisk();
    const paths = dataPaths(path.join(disk.dir, 'data'));
    await store.users.create('bob', 'user');
    await store.apps.create({ name: 'shop', owner: 'bob' });
    const domain = 'shop.example.test';
    await store.domains.add('shop', domain);
    const served = () => readFile(certFile(paths, domain), 'utf8').catch(() => '(no file)');

    const first = await makeCert([domain]);
    await installCert(store, paths, domain, { key: first.key, chain: first.cert }, 'manual');
    await disk.cut();
    assert.equal((await store.certs.get(domain))?.serial, first.serial);
    assert.ok((await served()).includes(first.cert), 'the first certificate is on the disk');

    const second = await makeCert([domain]);
    await installCert(store, paths, domain, { key: second.key, chain: second.cert }, 'manual');
    await disk.cut();
    assert.equal((await store.certs.get(domain))?.serial, second.serial);
    assert.ok((await served()).includes(second.cert), 'the replacement is on the disk');

    // certs:remove: gone from the disk as from Redis (a router would serve a file it finds).
    await removeCert(store, paths, domain);
    await disk.cut();
    assert.equal(await store.certs.get(domain), undefined);
    assert.equal(await served(), '(no file)');
  });
});
