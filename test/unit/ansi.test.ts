// services/web/ansi.ts: build output's colours as spans, everything escaped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ansiHtml } from '../../services/web/ansi.ts';

test('colours and bold become classed spans; a reset ends them', () => {
  assert.equal(
    ansiHtml('\x1b[1;32mok\x1b[0m done \x1b[31mred\x1b[39m plain').text,
    '<span class="ansi-32 ansi-bold">ok</span> done <span class="ansi-31">red</span> plain',
  );
});

test('markup in the line is escaped, inside and outside the spans; unknown codes vanish', () => {
  const shown = ansiHtml('<b>x</b> \x1b[33m<script>alert(1)</script>\x1b[0m \x1b[4m&').text;
  assert.equal(
    shown,
    '&lt;b&gt;x&lt;/b&gt; <span class="ansi-33">&lt;script&gt;alert(1)&lt;/script&gt;</span> &amp;',
  );
  assert.ok(!shown.includes('\x1b'));
});

test('a line without escapes is only escaped', () => {
  assert.equal(ansiHtml('a < b').text, 'a &lt; b');
});
