// Debian's nginx as a benchmark process of our own: its own master (in the
// foreground, a child of this process) with a config file, pid, logs and
// temp paths in a directory of ours, listening on 127.0.0.1 only. It never
// uses /etc/nginx or the system service.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface NginxProcess {
  port: number;
  /** The master's; its workers are its children. */
  pid: number;
  stop(): Promise<void>;
}

/** What every config shares: the process, its files under `dir`, Debian's http defaults. */
function mainConfig(dir: string, workers: number, http: string): string {
  const tmp = path.join(dir, 'tmp');
  return `
worker_processes ${workers};
daemon off;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  # As Debian's /etc/nginx/nginx.conf has them.
  sendfile on;
  tcp_nopush on;
  types_hash_max_size 2048;
  default_type application/octet-stream;
  server_tokens off;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
${http}
}
`;
}

/** A string for inside '…' in nginx's config (its parser knows these escapes). */
const nginxString = (s: string) =>
  s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n');

/**
 * The backend: a small fixed body from memory, no access log. Connections
 * are kept as long as clients want (nginx closes one every 1000 requests by
 * default, which would measure reconnects, not proxies).
 */
export function staticConfig(dir: string, o: { port: number; workers: number; body: string }) {
  return mainConfig(
    dir,
    o.workers,
    `
  server {
    listen 127.0.0.1:${o.port};
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    location / {
      default_type text/plain;
      return 200 '${nginxString(o.body)}';
    }
  }`,
  );
}

/**
 * nginx as Dokku sets it up for an app (plugins/nginx-vhosts/templates/
 * nginx.conf.sigil, HTTP server, defaults of `nginx:set`): access log on,
 * gzip settings (small bodies are below gzip_min_length anyway), buffers of
 * one page, the same proxy headers. Dokku's upstream block lists the app's
 * containers; `keepalive` here keeps idle connections to the backend (as
 * Node.js agents do) for at least as many as the clients' concurrency.
 */
export function dokkuProxyConfig(
  dir: string,
  o: { port: number; workers: number; backend: string; keepalive: number },
) {
  return mainConfig(
    dir,
    o.workers,
    `
  upstream bench-5000 {
    server ${o.backend};
    keepalive ${o.keepalive};
  }
  server {
    listen 127.0.0.1:${o.port};
    access_log ${path.join(dir, 'bench-access.log')};
    error_log ${path.join(dir, 'bench-error.log')};
    location / {
      gzip on;
      gzip_min_length 1100;
      gzip_buffers 4 32k;
      gzip_types text/css text/javascript text/xml text/plain text/x-component application/javascript application/x-javascript application/json application/xml application/rss+xml font/truetype application/x-font-ttf font/opentype application/vnd.ms-fontobject image/svg+xml;
      gzip_vary on;
      gzip_comp_level 6;

      proxy_pass http://bench-5000;
      proxy_http_version 1.1;
      proxy_read_timeout 60s;
      proxy_buffer_size 4k;
      proxy_buffering on;
      proxy_buffers 8 4k;
      proxy_busy_buffers_size 8k;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $http_connection;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Port $server_port;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Request-Start $msec;
    }
  }`,
  );
}

/** Starts nginx with `config` (written to `dir`); resolves once `port` accepts connections. */
export async function startNginx(dir: string, port: number, config: string): Promise<NginxProcess> {
  await mkdir(path.join(dir, 'tmp'), { recursive: true });
  // Workers run as nobody and must reach their temp paths.
  await chmod(dir, 0o755);
  const file = path.join(dir, 'nginx.conf');
  await writeFile(file, config);
  // -e: the error log from the first line on, before the config names one
  // (otherwise the compiled-in /var/log/nginx/error.log).
  const child = spawn('nginx', ['-e', path.join(dir, 'error.log'), '-p', dir, '-c', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  await untilListening(port, child, () => `nginx (${file}) ${stderr.trim()}`);
  return {
    port,
    pid: child.pid as number,
    // SIGTERM: the master stops its workers, then itself.
    stop: () => stopChild(child, 'SIGTERM'),
  };
}

/** Polls until `port` on loopback accepts a connection, for at most 10 s or until `child` exits. */
export async function untilListening(
  port: number,
  child: ChildProcess,
  what: () => string,
): Promise<void> {
  const t0 = performance.now();
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what()} exited before it listened on ${port}`);
    }
    const open = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (open) return;
    if (performance.now() - t0 > 10_000) {
      await stopChild(child, 'SIGKILL');
      throw new Error(`${what()} did not listen on ${port} within 10 s`);
    }
    await sleep(50);
  }
}

/** Asks a child to stop with `signal`; SIGKILL after 5 s; resolves when it is gone. */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const limit = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(limit);
      resolve();
    });
    child.kill(signal);
  });
}
