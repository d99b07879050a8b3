import { expect } from 'chai';
import { findLink } from '../src/linkHeader.js';
import { compilePath, selectAll, selectOne } from '../src/path.js';
import { compileTemplate, renderTemplate } from '../src/template.js';

describe('plugin-http internals', () => {
  describe('path selector', () => {
    const doc = { data: { items: [{ id: 1, tags: ['a', 'b'] }, { id: 2, tags: [] }], 'odd.key': 5 }, list: [10, 20] };

    it('reads dotted paths, $-rooted paths, indexes, wildcards and quoted keys', () => {
      expect(selectOne(doc, compilePath('data.items[1].id'))).to.equal(2);
      expect(selectOne(doc, compilePath('$.data.items[0].tags[1]'))).to.equal('b');
      expect(selectAll(doc, compilePath('$.data.items[*].id'))).to.deep.equal([1, 2]);
      expect(selectAll(doc, compilePath('$.list[*]'))).to.deep.equal([10, 20]);
      expect(selectOne(doc, compilePath("data['odd.key']"))).to.equal(5);
      expect(selectOne(doc, compilePath('$'))).to.equal(doc);
      expect(selectOne(doc, compilePath(''))).to.equal(doc);
      expect(selectOne(doc, compilePath('data.missing.deeper'))).to.equal(undefined);
      expect(selectOne(doc, compilePath('list.1'))).to.equal(20);
    });

    it('rejects malformed paths with the reason', () => {
      expect(() => compilePath('data[')).to.throw('"[" without "]"');
      expect(() => compilePath('data[?(@.id>1)]')).to.throw('must be [*], an index');
      expect(() => compilePath('a..b')).to.throw('unexpected "."');
    });
  });

  describe('Link header', () => {
    it('finds rel="next" among several links and resolves it against the request URL', () => {
      const header = '<https://api.github.com/repositories/1300192/issues?page=2>; rel="prev", <https://api.github.com/repositories/1300192/issues?page=4>; rel="next", <https://api.github.com/repositories/1300192/issues?page=515>; rel="last"';
      expect(findLink(header, 'next', 'https://api.github.com/x')).to.equal('https://api.github.com/repositories/1300192/issues?page=4');
      expect(findLink('</items?page=3>; rel="next last"', 'next', 'https://h.example/items?page=2')).to.equal('https://h.example/items?page=3');
      expect(findLink('<https://h.example/a>; rel=next', 'NEXT', 'https://h.example/')).to.equal('https://h.example/a');
      expect(findLink('<https://h.example/a>; rel="prev"', 'next', 'https://h.example/')).to.equal(undefined);
      expect(findLink(null, 'next', 'https://h.example/')).to.equal(undefined);
    });
  });

  describe('templates', () => {
    it('renders vars, times in each format and the cycle, encoding only substituted values', () => {
      const t = compileTemplate('/s/{{ id }}/{{vars.id}}?from={{window.start}}&to={{window.end.s}}&d={{now.date}}&c={{cycle}}', { id: 'a b' });
      const out = renderTemplate(t, { vars: { id: 'a b' }, window: { start: 0, end: 60_000 }, now: Date.parse('2025-05-06T07:08:09Z'), cycle: 3 }, encodeURIComponent);
      expect(out).to.equal('/s/a%20b/a%20b?from=1970-01-01T00%3A00%3A00.000Z&to=60&d=2025-05-06&c=3');
      expect(t.usesWindow).to.equal(true);
    });

    it('rejects unknown names and formats', () => {
      expect(() => compileTemplate('{{nope}}', { yes: 1 })).to.throw('unknown template variable "{{nope}}": expected a key of vars (yes)');
      expect(() => compileTemplate('{{now.weekday}}', {})).to.throw('unknown time format');
    });
  });
});
