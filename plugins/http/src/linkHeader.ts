/**
 * Reading the `Link` response header (RFC 8288, which replaced RFC 5988):
 * `<https://api.example.com/items?page=2>; rel="next", <...>; rel="last"`.
 */

/**
 * The target of the first link whose `rel` contains `rel` (case-insensitive), resolved against
 * `base`; `undefined` when there is none or the header is unreadable.
 */
export function findLink(header: string | null | undefined, rel: string, base: string): string | undefined {
  if (!header) return undefined;
  const wanted = rel.toLowerCase();
  const re = /<([^>]*)>((?:\s*;\s*[^;,]+(?:=(?:"[^"]*"|[^;,]*))?)*)/g;
  for (const m of header.matchAll(re)) {
    const target = m[1]!.trim();
    const params = m[2] ?? '';
    for (const p of params.matchAll(/;\s*([^=;,\s]+)\s*(?:=\s*(?:"([^"]*)"|([^;,]*)))?/g)) {
      if (p[1]!.toLowerCase() !== 'rel') continue;
      const values = (p[2] ?? p[3] ?? '').trim().toLowerCase().split(/\s+/);
      if (values.includes(wanted)) {
        try {
          return new URL(target, base).href;
        } catch {
          return undefined;
        }
      }
    }
  }
  return undefined;
}
