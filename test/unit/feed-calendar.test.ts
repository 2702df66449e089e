// Trading calendars against NYSE's published holiday and early-close lists 2011–2027, daylight-saving
// edges (from ICU's tz data, not a table) and the 24/7 calendar of crypto.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  easterSunday,
  expectedBarStarts,
  nyse,
  nyseYear,
  sessionTimeBetween,
  twentyFourSeven,
} from '../../actors/feed/calendar.ts';

// NYSE's holiday notices (full closures on weekdays), including the special closures of those years.
const publishedHolidays: Record<number, string> = {
  2011: '01-17 02-21 04-22 05-30 07-04 09-05 11-24 12-26',
  2012: '01-02 01-16 02-20 04-06 05-28 07-04 09-03 10-29 10-30 11-22 12-25',
  2013: '01-01 01-21 02-18 03-29 05-27 07-04 09-02 11-28 12-25',
  2014: '01-01 01-20 02-17 04-18 05-26 07-04 09-01 11-27 12-25',
  2015: '01-01 01-19 02-16 04-03 05-25 07-03 09-07 11-26 12-25',
  2016: '01-01 01-18 02-15 03-25 05-30 07-04 09-05 11-24 12-26',
  2017: '01-02 01-16 02-20 04-14 05-29 07-04 09-04 11-23 12-25',
  2018: '01-01 01-15 02-19 03-30 05-28 07-04 09-03 11-22 12-05 12-25',
  2019: '01-01 01-21 02-18 04-19 05-27 07-04 09-02 11-28 12-25',
  2020: '01-01 01-20 02-17 04-10 05-25 07-03 09-07 11-26 12-25',
  2021: '01-01 01-18 02-15 04-02 05-31 07-05 09-06 11-25 12-24',
  2022: '01-17 02-21 04-15 05-30 06-20 07-04 09-05 11-24 12-26',
  2023: '01-02 01-16 02-20 04-07 05-29 06-19 07-04 09-04 11-23 12-25',
  2024: '01-01 01-15 02-19 03-29 05-27 06-19 07-04 09-02 11-28 12-25',
  2025: '01-01 01-09 01-20 02-17 04-18 05-26 06-19 07-04 09-01 11-27 12-25',
  2026: '01-01 01-19 02-16 04-03 05-25 06-19 07-03 09-07 11-26 12-25',
  2027: '01-01 01-18 02-15 03-26 05-31 06-18 07-05 09-06 11-25 12-24',
};

// 13:00 closes as NYSE published them.
const publishedEarlyCloses: Record<number, string> = {
  2011: '11-25',
  2012: '07-03 11-23 12-24',
  2013: '07-03 11-29 12-24',
  2014: '07-03 11-28 12-24',
  2015: '11-27 12-24',
  2016: '11-25',
  2017: '07-03 11-24',
  2018: '07-03 11-23 12-24',
  2019: '07-03 11-29 12-24',
  2020: '11-27 12-24',
  2021: '11-26',
  2022: '11-25',
  2023: '07-03 11-24',
  2024: '07-03 11-29 12-24',
  2025: '07-03 11-28 12-24',
  2026: '11-27 12-24',
  2027: '11-26',
};

const days = (year: number, list: string) => list.split(' ').map((day) => `${year}-${day}`);
const utc = (iso: string) => Date.parse(iso);

describe('nyse calendar', () => {
  it('gives the published full holidays of 2011..2027', () => {
    for (const [year, list] of Object.entries(publishedHolidays))
      assert.deepEqual(nyseYear(Number(year)).holidays, days(Number(year), list), `holidays of ${year}`);
  });

  it('gives the published 13:00 early closes of 2011..2027', () => {
    for (const [year, list] of Object.entries(publishedEarlyCloses))
      assert.deepEqual(
        nyseYear(Number(year)).earlyCloses,
        days(Number(year), list),
        `early closes of ${year}`,
      );
  });

  it('computes Easter (Good Friday is two days before)', () => {
    assert.deepEqual(easterSunday(2019), { month: 4, day: 21 });
    assert.deepEqual(easterSunday(2024), { month: 3, day: 31 });
    assert.deepEqual(easterSunday(2038), { month: 4, day: 25 }); // the latest date possible
    assert.deepEqual(easterSunday(2285), { month: 3, day: 22 }); // the earliest
  });

  it('has one session per trading day over a whole year: 252 in 2019, 251 in 2022, 250 in 2023', () => {
    const count = (year: number) =>
      nyse.sessionsBetween(utc(`${year}-01-01`), utc(`${year + 1}-01-01`)).length;
    assert.equal(count(2019), 252);
    assert.equal(count(2022), 251);
    assert.equal(count(2023), 250);
  });

  it('opens 09:30 and closes 16:00 New York time on both sides of each DST switch', () => {
    // 2024-03-10 spring forward: the Friday before in EST (UTC-5), the Monday after in EDT (UTC-4).
    const [friday] = nyse.sessionsBetween(utc('2024-03-08T15:00Z'), utc('2024-03-08T16:00Z'));
    assert.deepEqual(friday, {
      day: '2024-03-08',
      openMs: utc('2024-03-08T14:30Z'),
      closeMs: utc('2024-03-08T21:00Z'),
    });
    const sessions = nyse.sessionsBetween(utc('2024-03-09T00:00Z'), utc('2024-03-12T00:00Z'));
    assert.deepEqual(sessions, [
      { day: '2024-03-11', openMs: utc('2024-03-11T13:30Z'), closeMs: utc('2024-03-11T20:00Z') },
    ]);
    // 2024-11-03 fall back: Friday in EDT, Monday in EST.
    const fall = nyse.sessionsBetween(utc('2024-11-01T00:00Z'), utc('2024-11-05T00:00Z'));
    assert.deepEqual(
      fall.map((session) => [session.day, new Date(session.openMs).toISOString()]),
      [
        ['2024-11-01', '2024-11-01T13:30:00.000Z'],
        ['2024-11-04', '2024-11-04T14:30:00.000Z'],
      ],
    );
  });

  it('closes at 13:00 on early-close days', () => {
    const [eve] = nyse.sessionsBetween(utc('2024-12-24T15:00Z'), utc('2024-12-24T16:00Z'));
    assert.equal(eve?.closeMs, utc('2024-12-24T18:00Z'));
    assert.equal(nyse.isOpen(utc('2024-12-24T17:59Z')), true);
    assert.equal(nyse.isOpen(utc('2024-12-24T18:00Z')), false);
    // The day before Independence Day in summer time: 13:00 EDT is 17:00 UTC.
    const [july3] = nyse.sessionsBetween(utc('2025-07-03T15:00Z'), utc('2025-07-03T16:00Z'));
    assert.equal(july3?.closeMs, utc('2025-07-03T17:00Z'));
  });

  it('is closed on weekends, holidays and special closures; open inside the session only', () => {
    assert.equal(nyse.isOpen(utc('2025-01-09T16:00Z')), false); // President Carter's day of mourning
    assert.equal(nyse.isOpen(utc('2012-10-29T16:00Z')), false); // Hurricane Sandy
    assert.equal(nyse.isOpen(utc('2011-01-17T16:00Z')), false); // MLK Day
    assert.equal(nyse.isOpen(utc('2011-01-15T16:00Z')), false); // Saturday
    assert.equal(nyse.isOpen(utc('2011-01-18T14:29:59.999Z')), false);
    assert.equal(nyse.isOpen(utc('2011-01-18T14:30Z')), true);
    assert.equal(nyse.isOpen(utc('2011-01-18T20:59:59.999Z')), true);
    assert.equal(nyse.isOpen(utc('2011-01-18T21:00Z')), false);
    assert.equal(nyse.isOpen(Number.NaN), false);
    // A Saturday New Year's Day leaves the Friday before open (2021-12-31 traded).
    assert.equal(nyse.isOpen(utc('2021-12-31T16:00Z')), true);
  });

  it('lists the expected minute bars of a session: 390 on a full day, 210 on an early close', () => {
    const full = expectedBarStarts(nyse, utc('2011-01-18T00:00Z'), utc('2011-01-19T00:00Z'), 60_000);
    assert.equal(full.length, 390);
    assert.equal(full[0], utc('2011-01-18T14:30Z'));
    assert.equal(full.at(-1), utc('2011-01-18T20:59Z'));
    const early = expectedBarStarts(nyse, utc('2024-11-29T00:00Z'), utc('2024-11-30T00:00Z'), 60_000);
    assert.equal(early.length, 210);
    // A window starting mid-session starts at the next bar boundary of the session, not of the window.
    const part = expectedBarStarts(nyse, utc('2011-01-18T14:30:30Z'), utc('2011-01-18T14:33Z'), 60_000);
    assert.deepEqual(part, [utc('2011-01-18T14:31Z'), utc('2011-01-18T14:32Z')]);
    assert.throws(() => expectedBarStarts(nyse, 0, 1, 0), RangeError);
    assert.throws(() => nyse.sessionsBetween(0, Number.POSITIVE_INFINITY), RangeError);
    assert.deepEqual(nyse.sessionsBetween(10, 5), []);
  });

  it('counts session time across a holiday weekend', () => {
    // Friday 2011-01-14 15:00 ET to Tuesday 2011-01-18 10:00 ET: 1 h Friday + 30 min Tuesday.
    const span = sessionTimeBetween(nyse, utc('2011-01-14T20:00Z'), utc('2011-01-18T15:00Z'));
    assert.equal(span, 90 * 60_000);
  });
});

describe('24x7 calendar', () => {
  it('is always open and reports UTC days as sessions', () => {
    assert.equal(twentyFourSeven.isOpen(utc('2021-01-09T03:00Z')), true);
    const sessions = twentyFourSeven.sessionsBetween(utc('2021-01-08T23:00Z'), utc('2021-01-09T01:00Z'));
    assert.deepEqual(
      sessions.map((session) => session.day),
      ['2021-01-08', '2021-01-09'],
    );
    assert.equal(
      expectedBarStarts(twentyFourSeven, utc('2021-01-08'), utc('2021-01-09'), 60_000).length,
      1440,
    );
  });
});

describe('dayOf', () => {
  it('files an instant under the exchange-local date', () => {
    assert.equal(nyse.dayOf(utc('2011-02-01T01:00Z')), '2011-01-31'); // 20:00 in New York
    assert.equal(nyse.dayOf(utc('2024-07-01T04:00Z')), '2024-07-01'); // midnight EDT
    assert.equal(twentyFourSeven.dayOf(utc('2011-02-01T01:00Z')), '2011-02-01');
  });
});
