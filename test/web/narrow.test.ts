import { describe, expect, it } from 'vitest';
import { ADMIN_TEST_PASSWORD } from '../helpers/harness.js';
import { useWebApp } from '../helpers/web-app.js';

const PAGES = ['Talk', 'Live', 'Conversations', 'Keys and accounts', 'Health', 'Audit', 'Settings'];

describe('every page at 360 px, by keyboard', () => {
  const app = useWebApp({ HARKEN_VOICE_ENABLED: 'false' });

  it('reaches each page from the navigation with the keyboard, labels every control, and never scrolls sideways', async () => {
    const { page, problems, screenshot } = await app.open('/', { width: 360, height: 740 });
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(ADMIN_TEST_PASSWORD);
    await page.keyboard.press('Enter');
    for (const title of PAGES) {
      const link = page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: title, exact: true });
      await link.focus();
      await page.keyboard.press('Enter');
      await expect.poll(() => link.getAttribute('aria-current')).toBe('page');
      await page.waitForLoadState('networkidle');
      expect(await page.evaluate('document.documentElement.scrollWidth'), title).toBeLessThanOrEqual(360);
      // Every form control has an accessible name.
      const unnamed = await page.evaluate(`[...document.querySelectorAll('input, select, textarea, button')].filter((element) => !element.labels?.length && !element.getAttribute('aria-label') && !(element.textContent ?? '').trim()).map((element) => element.outerHTML)`);
      expect(unnamed, title).toEqual([]);
      await screenshot(`narrow-${title.toLowerCase().replaceAll(' ', '-')}`);
    }
    expect(problems).toEqual([]);
  }, 60_000);
});
