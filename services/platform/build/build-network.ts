// What a build is told about the operator's network (issue 18): the CA
// bundle a TLS-intercepting proxy needs trusted, and the HTTP(S) proxies
// registries are reached through (BERTH_BUILD_CA_BUNDLE, BERTH_BUILD_*_PROXY,
// docs/configuration.md "Building behind a proxy").
//
// A buildpack build gets both as environment variables of its container,
// which every tool of the build reads: npm, pip, git, curl, Node.js and
// Python. The bundle is the stack's own CA certificates plus the operator's,
// so that public registries still verify: npm's cafile and pip's cert
// replace the trusted set rather than add to it. The committed image keeps
// neither (its Env is its own), unless BERTH_APP_CA_BUNDLE asks that apps
// trust the bundle too.
//
// A Dockerfile build runs the app's own steps: the proxies go to it as
// Docker's predefined build args (HTTP_PROXY and the rest: usable in RUN
// without an ARG line, and kept out of the image's history); the CA bundle
// is not put in, since where a Dockerfile's tools look for CAs is the
// Dockerfile's business (the docs show how to pass it).
import type { BuildNetwork } from '../../core/config.ts';

/** Where a buildpack build finds the bundle: a directory of the build's scratch, mounted. */
export const CA_DIR = '/berth/ca';
/** The operator's certificates, as the builder writes them. */
export const CA_OPERATOR_FILE = `${CA_DIR}/operator.pem`;
/** The stack's CA certificates and the operator's, made in the container before the buildpacks run. */
export const CA_FILE = `${CA_DIR}/ca-certificates.crt`;
/** Where BERTH_APP_CA_BUNDLE puts the bundle in an app's image (under /app, so the app user reads it). */
export const APP_CA_FILE = '/app/.berth/ca-certificates.crt';
/** The stack's bundle (Debian's ca-certificates). */
const STACK_CA_FILE = '/etc/ssl/certs/ca-certificates.crt';

/** The variables that make each tool trust `file` (replacing, or adding to, its own set). */
export function caEnv(file: string): string[] {
  return [
    `NODE_EXTRA_CA_CERTS=${file}`,
    `NPM_CONFIG_CAFILE=${file}`,
    `PIP_CERT=${file}`,
    `REQUESTS_CA_BUNDLE=${file}`,
    `SSL_CERT_FILE=${file}`,
    `GIT_SSL_CAINFO=${file}`,
    `CURL_CA_BUNDLE=${file}`,
  ];
}

/**
 * The proxy variables, in both cases (curl and Python read the lower-case
 * ones, Go and others the upper-case), and npm's own names, which npm
 * prefers over the environment's.
 */
export function proxyVars(n: BuildNetwork): Record<string, string> {
  const vars: Record<string, string> = {};
  if (n.httpProxy) {
    vars.HTTP_PROXY = vars.http_proxy = n.httpProxy;
    vars.NPM_CONFIG_PROXY = n.httpProxy;
  }
  if (n.httpsProxy) {
    vars.HTTPS_PROXY = vars.https_proxy = n.httpsProxy;
    vars.NPM_CONFIG_HTTPS_PROXY = n.httpsProxy;
  }
  if (n.noProxy) {
    vars.NO_PROXY = vars.no_proxy = n.noProxy;
    vars.NPM_CONFIG_NOPROXY = n.noProxy;
  }
  return vars;
}

/** A buildpack build container's extra Env. */
export function buildpackEnv(n: BuildNetwork | undefined): string[] {
  if (n === undefined) return [];
  return [
    ...(n.caBundle ? caEnv(CA_FILE) : []),
    ...Object.entries(proxyVars(n)).map(([k, v]) => `${k}=${v}`),
  ];
}

/**
 * Docker's predefined build args a Dockerfile build gets: the proxies only.
 * (npm's NPM_CONFIG_* are not predefined: passing them would print a warning
 * in every build whose Dockerfile does not declare them.)
 */
export function dockerfileBuildArgs(n: BuildNetwork | undefined): Record<string, string> {
  if (n === undefined) return {};
  const vars = proxyVars(n);
  return Object.fromEntries(Object.entries(vars).filter(([k]) => !k.startsWith('NPM_CONFIG_')));
}

/**
 * Run as root in the build container before any buildpack: the stack's
 * certificates (when it has them) and the operator's, in one file.
 */
export const COMBINE_CA = [
  '/bin/sh',
  '-c',
  `set -e; { if [ -f ${STACK_CA_FILE} ]; then cat ${STACK_CA_FILE}; fi; cat ${CA_OPERATOR_FILE}; } >${CA_FILE}.tmp; mv ${CA_FILE}.tmp ${CA_FILE}; chmod 644 ${CA_FILE}`,
];

/** Run as root before the commit when apps trust the bundle too: a copy in the image. */
export const COPY_CA_TO_APP = [
  '/bin/sh',
  '-c',
  `set -e; mkdir -p ${APP_CA_FILE.slice(0, APP_CA_FILE.lastIndexOf('/'))}; cp ${CA_FILE} ${APP_CA_FILE}; chmod 644 ${APP_CA_FILE}`,
];
