import { expect } from 'chai';
import { DEFAULT_REDACT_NAMES, redactUrl, scrubSecrets } from '../../src/http/redact.js';

describe('http/redact', () => {
  describe('redactUrl', () => {
    it('replaces the values of sensitive query parameters and keeps the rest verbatim', () => {
      expect(redactUrl('https://api.eia.gov/v2/x?api_key=abc123&frequency=hourly&facets%5Bregion%5D=PL')).to.equal(
        'https://api.eia.gov/v2/x?api_key=***&frequency=hourly&facets%5Bregion%5D=PL',
      );
    });

    it('compares names without case, "-" and "_"', () => {
      expect(redactUrl('http://h/p?apiKey=1&API-KEY=2&Api_Key=3&securitytoken=4&APPID=5&x=6')).to.equal(
        'http://h/p?apiKey=***&API-KEY=***&Api_Key=***&securitytoken=***&APPID=***&x=6',
      );
    });

    it('redacts percent-encoded names and repeated parameters', () => {
      expect(redactUrl('http://h/p?%74oken=a&token=b&token=c')).to.equal('http://h/p?%74oken=***&token=***&token=***');
    });

    it('redacts the password of user:password@ (keeping the user) and a lone user part (often a token)', () => {
      expect(redactUrl('https://alice:s3cr3t@example.com/x?y=1')).to.equal('https://alice:***@example.com/x?y=1');
      expect(redactUrl('https://ghp_abcdef123456@example.com/x')).to.equal('https://***@example.com/x');
    });

    it('redacts the fragment like a query (OAuth access_token)', () => {
      expect(redactUrl('https://h/cb?state=1#access_token=tok123&expires_in=3600')).to.equal('https://h/cb?state=1#access_token=***&expires_in=3600');
      expect(redactUrl('https://h/cb#access_token=tok123')).to.equal('https://h/cb#access_token=***');
    });

    it('takes extra names on top of the defaults, and URL objects', () => {
      const u = new URL('https://h/p?sid=42&key=k&q=1');
      expect(redactUrl(u, ['sid'])).to.equal('https://h/p?sid=***&key=***&q=1');
      expect(redactUrl(u)).to.equal('https://h/p?sid=42&key=***&q=1');
    });

    it('works on strings that are not valid URLs', () => {
      expect(redactUrl('/relative/path?token=abc&x=%E0%A4%A')).to.equal('/relative/path?token=***&x=%E0%A4%A');
      expect(redactUrl('not a url')).to.equal('not a url');
    });

    it('covers the keys of the APIs the seeds used', () => {
      for (const name of ['api_key', 'securityToken', 'appid', 'x-cg-pro-api-key', 'token', 'key', 'access_key', 'authorization']) {
        expect(DEFAULT_REDACT_NAMES.map((n) => n.toLowerCase())).to.include(name.toLowerCase());
      }
    });
  });

  describe('scrubSecrets', () => {
    it('also removes a secret as it appears inside a JSON string (quotes and backslashes escaped)', () => {
      const secret = 'pw-"Sasl"\\Pa55';
      const body = JSON.stringify({ echo: 'password ' + secret });
      expect(body).not.to.include(secret);
      expect(scrubSecrets(body, [secret])).to.equal('{"echo":"password ***"}');
    });
    it('replaces each literal secret, raw and URL-encoded', () => {
      const secret = 'ab+c/d=e 42';
      const text = `key ${secret} in url ${encodeURIComponent(secret)} and form ${encodeURIComponent(secret).replace(/%20/g, '+')}`;
      const out = scrubSecrets(text, [secret]);
      expect(out).to.equal('key *** in url *** and form ***');
    });

    it('replaces longer secrets first so none is left half visible', () => {
      expect(scrubSecrets('x abcd1234 y abcd', ['abcd', 'abcd1234'])).to.equal('x *** y ***');
    });

    it('skips undefined, empty and very short values', () => {
      expect(scrubSecrets('status 503 for abc', [undefined, null, '', '503', 'abc'])).to.equal('status 503 for abc');
    });
  });
});
