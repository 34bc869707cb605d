import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';

/** The healthcare intake questionnaire, driven end to end through the HTTP API. */
describe('healthcare intake over the conversation API', () => {
  const tempDir = useTempDirs();
  let server: TestServer;
  let id: string;
  const fixedNow = () => new Date('2026-11-24T10:00:00Z');

  beforeEach(async () => {
    server = await startTestServer(tempDir(), {}, fixedNow);
    const created = await server.inject({ method: 'POST', url: '/v1/conversations', payload: {} });
    id = created.json().id;
    expect(created.json().expect).toEqual({ type: 'text' });
  });
  afterEach(async () => {
    await server.harken.close();
  });

  const say = async (text: string) => {
    const response = await server.inject({ method: 'POST', url: `/v1/conversations/${id}/messages`, payload: { text } });
    expect(response.statusCode).toBe(200);
    return response.json() as { reply: { text: string }; conversation: { status: string; data: Record<string, unknown> }; expect: unknown };
  };

  it('collects every answer, re-asks bad ones, branches, summarises and stores structured data', async () => {
    expect((await say('Jane Doe')).reply.text).toBe('What is your date of birth?');

    const future = await say('march fifth twenty thirty');
    expect(future.reply.text).toBe('That date is in the future. What is your date of birth?');
    const garbage = await say('I would rather not');
    expect(garbage.reply.text).toMatch(/^Sorry, I didn't catch a date\. .*What is your date of birth\?$/);
    const repeat = await say('could you repeat that');
    expect(repeat.reply.text).toBe('What is your date of birth?');

    const symptoms = await say('march fifth nineteen eighty two');
    expect(symptoms.reply.text).toBe('What symptoms bring you in today?');
    expect(symptoms.conversation.data.dateOfBirth).toBe('1982-03-05');

    expect((await say('A sore throat and a mild fever')).expect).toEqual({ type: 'yesno' });
    const unsure = await say('purple');
    expect(unsure.reply.text).toBe('Sorry, I need a yes or a no. Do you have any allergies?');
    expect((await say('yes I do')).reply.text).toBe('What are you allergic to?');
    expect((await say('Penicillin')).reply.text).toBe('Are you currently taking any medication?');
    expect((await say('no')).reply.text).toBe('Do you consent to us sharing these answers with your care team?');

    const done = await say('yes');
    expect(done.conversation.status).toBe('completed');
    expect(done.reply.text).toBe(
      'Thank you, Jane Doe. Here is what I have. Name: Jane Doe. Date of birth: March 5, 1982. ' +
        'Symptoms: A sore throat and a mild fever. Allergies: Penicillin. Current medication: none. ' +
        'Your care team will see this before your visit. Goodbye.',
    );
    expect(done.conversation.data).toEqual({
      name: 'Jane Doe',
      dateOfBirth: '1982-03-05',
      symptoms: 'A sore throat and a mild fever',
      hasAllergies: true,
      allergies: 'Penicillin',
      takesMedication: false,
      consent: true,
    });
    expect(done.expect).toBeNull();

    const after = await server.inject({ method: 'POST', url: `/v1/conversations/${id}/messages`, payload: { text: 'hello?' } });
    expect(after.statusCode).toBe(409);
    expect(after.json().error.code).toBe('conversation_ended');

    const stored = (await server.inject({ method: 'GET', url: `/v1/conversations/${id}` })).json();
    expect(stored.status).toBe('completed');
    expect(stored.data.dateOfBirth).toBe('1982-03-05');
    expect(stored.messages).toHaveLength(1 + 2 * 11);
  });

  it('ends as declined when consent is refused', async () => {
    await say('John Smith');
    await say('1970-01-31');
    await say('headache');
    await say('no');
    await say('no');
    const declined = await say('no I do not');
    expect(declined.conversation.status).toBe('declined');
    expect(declined.reply.text).toMatch(/I won't share your answers/);
  });

  it('hands over to staff after three answers that do not fit a required question', async () => {
    await say('Ann Lee');
    await say('tomorrow-ish');
    const second = await say('no idea');
    expect(second.conversation.status).toBe('active');
    const third = await say('banana');
    expect(third.conversation.status).toBe('needs_staff');
    expect(third.reply.text).toMatch(/member of staff will help you/);
    expect(third.conversation.data).toEqual({ name: 'Ann Lee' });
  });
});
