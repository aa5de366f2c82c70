// The ports an image EXPOSEs, as Dokku reads them for its port mapping: TCP
// only (a UDP port cannot be proxied), in the order the Dockerfile's EXPOSE
// lines give them — the first one is where web instances listen (PORT) and
// are checked and routed — then any the image has besides (from its base
// image), lowest first. The Engine keeps ExposedPorts as a map, so the
// order can only come from the Dockerfile.
import { parseInstructions } from './dockerfile-syntax.ts';

/** `ExposedPorts` of an image's config (`"8000/tcp": {}`) and its Dockerfile, when there is one. */
export function exposedTcpPorts(
  exposed: Readonly<Record<string, unknown>> | undefined,
  dockerfile?: string,
): number[] {
  const inImage = new Set<number>();
  for (const key of Object.keys(exposed ?? {})) {
    const m = /^([0-9]{1,5})(?:\/tcp)?$/.exec(key);
    const port = Number(m?.[1]);
    if (m && port > 0 && port < 65536) inImage.add(port);
  }
  const ordered: number[] = [];
  if (dockerfile !== undefined) {
    for (const i of parseInstructions(dockerfile)) {
      if (i.keyword !== 'EXPOSE') continue;
      for (const word of i.args.split(/\s+/)) {
        const port = Number(/^([0-9]{1,5})(?:\/tcp)?$/i.exec(word)?.[1]);
        if (inImage.has(port) && !ordered.includes(port)) ordered.push(port);
      }
    }
  }
  const rest = [...inImage].filter((p) => !ordered.includes(p)).sort((a, b) => a - b);
  return [...ordered, ...rest];
}
