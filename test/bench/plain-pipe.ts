// The ceiling for a Node.js data path: the least a proxy must do (a request
// to the backend on a keep-alive agent, the answer piped back), nothing
// else. Its own process(es), node:cluster with SCHED_NONE as the router.
//   node --import tsx plain-pipe.ts <port> <backend host:port> <processes>
import cluster from 'node:cluster';
import http from 'node:http';

const [port, backend = '', processes] = process.argv.slice(2);
const [host, backendPort] = backend.split(':');

if (cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  for (let i = 0; i < Number(processes); i++) cluster.fork();
  // The bench stops the primary; its workers follow by the IPC channel closing.
  process.on('SIGTERM', () => process.exit(0));
} else {
  const agent = new http.Agent({ keepAlive: true });
  http
    .createServer((req, res) => {
      const upstream = http.request(
        { host, port: backendPort, method: req.method, path: req.url, headers: req.headers, agent },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    })
    .listen(Number(port), '127.0.0.1');
}
