// Ports as Dokku does them, without Docker: the mapping form and what
// Berth's router can serve of it (one line for a bad one), which port an
// instance gets (a mapping, the app's PORT, EXPOSE, 5000), the order of an
// image's EXPOSEd ports, and the listening ports read from /proc/net/tcp.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BerthError } from '../../services/core/errors.ts';
import * as validate from '../../services/core/validate.ts';
import {
  containerPort,
  detectedMappings,
  routerPorts,
} from '../../services/platform/apps/ports.ts';
import { exposedTcpPorts } from '../../services/platform/build/exposed-ports.ts';
import { listeners, listeningPorts } from '../../services/platform/release/health.ts';

const hostPorts = routerPorts({ httpPort: 8080, httpsPort: 8443 });
const none = { portsMap: [], portsDetected: [] };

describe('port mappings', () => {
  test("Dokku's form, with the router's host ports", () => {
    assert.deepEqual(validate.portMapping('http:80:5000', hostPorts), {
      scheme: 'http',
      hostPort: 80,
      containerPort: 5000,
    });
    assert.equal(validate.portMapping('https:443:8000', hostPorts).containerPort, 8000);
    assert.equal(validate.portMapping('http:8080:8000', hostPorts).hostPort, 8080);
  });

  test('a bad mapping is refused in one line saying why', () => {
    const cases: [string, RegExp][] = [
      ['http:80', /use scheme:host-port:container-port/],
      ['80:5000', /use scheme:host-port:container-port/],
      ['http:80:0', /not a port number/],
      ['http:80:70000', /not a port number/],
      ['udp:53:53', /http and https only \(no udp\)/],
      ['grpc:80:5000', /http and https only \(no grpc\)/],
      ['http:8000:8000', /takes http on port 80 or 8080 only.*http:80:8000/],
      ['https:80:5000', /takes https on port 443 or 8443 only/],
      ['http:80:5000\nx', /use scheme/],
    ];
    for (const [value, reason] of cases) {
      assert.throws(
        () => validate.portMapping(value, hostPorts),
        (e: unknown) => {
          assert.ok(e instanceof BerthError && e.code === 'BERTH_E_INVALID_NAME', String(e));
          assert.match(e.message, reason, value);
          assert.ok(!e.message.includes('\n'), e.message);
          return true;
        },
      );
    }
  });
});

describe('the port an instance gets', () => {
  test("a mapping, else the app's PORT, else EXPOSE, else 5000", () => {
    const mapped = {
      portsMap: [{ scheme: 'http' as const, hostPort: 80, containerPort: 9000 }],
      portsDetected: [8000],
    };
    assert.deepEqual(containerPort(mapped, { PORT: '7000' }), { port: 9000, from: 'ports:set' });
    assert.deepEqual(containerPort({ ...mapped, portsMap: [] }, { PORT: '7000' }), {
      port: 7000,
      from: 'PORT',
    });
    assert.deepEqual(containerPort({ ...mapped, portsMap: [] }, {}), {
      port: 8000,
      from: 'EXPOSE',
    });
    assert.deepEqual(containerPort(none, {}), { port: 5000, from: 'default' });
    // A PORT set before config:set checked it is ignored.
    assert.deepEqual(containerPort(none, { PORT: 'abc' }), { port: 5000, from: 'default' });
  });

  test("the detected mapping is EXPOSE's (else 5000), with https once there is a certificate", () => {
    assert.deepEqual(detectedMappings({ portsDetected: [8000, 9000] }, false), [
      { scheme: 'http', hostPort: 80, containerPort: 8000 },
    ]);
    assert.deepEqual(detectedMappings({ portsDetected: [] }, true), [
      { scheme: 'http', hostPort: 80, containerPort: 5000 },
      { scheme: 'https', hostPort: 443, containerPort: 5000 },
    ]);
  });
});

describe("an image's EXPOSE", () => {
  test("TCP ports in the Dockerfile's order, then the base image's, lowest first", () => {
    const exposed = { '9000/tcp': {}, '8000/tcp': {}, '53/udp': {}, '3000/tcp': {} };
    const dockerfile = 'FROM python:3.12\nEXPOSE 9000\nEXPOSE 8000/tcp 53/udp\nCMD ["x"]\n';
    assert.deepEqual(exposedTcpPorts(exposed, dockerfile), [9000, 8000, 3000]);
    assert.deepEqual(exposedTcpPorts(exposed), [3000, 8000, 9000]);
    assert.deepEqual(exposedTcpPorts(undefined, dockerfile), []);
  });
});

describe('listening ports from /proc/net/tcp', () => {
  test('LISTEN sockets only, IPv4 and IPv6, loopback-only ones marked', () => {
    const text = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:0016 0100007F:0017 06 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1
   3: 0B00007F:8E23 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0000000000000000 100 0 0 10 0
   4: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 6 1 0000000000000000 100 0 0 10 0
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1388 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 100 0 0 10 0
`;
    // Docker's DNS on 127.0.0.11 is left out; 3000 is on 127.0.0.1 only.
    assert.deepEqual(listeningPorts(text), [5000, 8080]);
    assert.deepEqual(listeners(text), [
      { port: 3000, loopback: true },
      { port: 5000, loopback: false },
      { port: 8080, loopback: false },
    ]);
    assert.deepEqual(listeningPorts(''), []);
  });
});
