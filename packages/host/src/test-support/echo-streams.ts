/**
 * How the test EchoService's client stream answers: how many messages came,
 * and the last one's text.
 */
export async function countMessages(
  requests: AsyncIterable<{ readonly message: string }>,
): Promise<{ count: number; last: string }> {
  let count = 0;
  let last = "";
  for await (const r of requests) {
    count++;
    last = r.message;
  }
  return { count, last };
}
