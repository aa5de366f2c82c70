// What Berth's bundles put in place of dockerode's lib/session.js and
// lib/buildkit.js (infra/build.mjs): BuildKit sessions over gRPC and the
// decoding of BuildKit's protobuf progress, both only for
// `buildImage(..., { version: '2' })`, which Berth never asks for (its Engine
// builds with the classic builder). They cost every process that talks to
// Docker about 1 MB of gRPC and protobuf code. Should a build ever ask for
// them, it fails with this message instead.
const LEFT_OUT =
  "dockerode's BuildKit support (build version '2') is left out of Berth's bundles (infra/build.mjs); Berth builds with the classic builder";

function withSession(_docker, _auth, callback) {
  callback(new Error(LEFT_OUT));
}

withSession.followProgress = (_stream, onFinished) => {
  onFinished?.(new Error(LEFT_OUT));
};

// lib/docker.js calls `require('./session')(...)` and `require('./buildkit').followProgress(...)`.
module.exports = withSession;
