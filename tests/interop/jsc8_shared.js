// The seed's flow with the published jsc8 1.1.0, unmodified: create the stream if missing, one
// one-time password per socket, two consumers on one Shared subscription, one producer, ack
// every message. Only BASE_URL (the URL-userinfo recipe), the API key and the CA environment
// differ from the seed. Prints one JSON line: which consumer got which message.
"use strict";
const jsc8 = require("jsc8");

const BASE_URL = process.env.BASE_URL;
const TOTAL = Number(process.env.MESSAGES || "40");
const DEADLINE_MS = Number(process.env.DEADLINE_MS || "20000");
const streamName = "streamQuickstart";
const subscriptionName = "consumer-subscription";

const client = new jsc8({ url: BASE_URL, apiKey: process.env.API_KEY, fabricName: "_system" });
const received = { c1: [], c2: [] };
let publishAcks = 0;
let publishErrors = 0;

function opened(ws) {
  return new Promise((resolve, reject) => {
    ws.on("open", resolve);
    ws.on("error", reject);
  });
}

async function createStream() {
  if (!(await client.hasStream(streamName, false))) {
    const streamInfo = await client.createStream(streamName, false);
    console.error(`created ${streamInfo.result["stream-id"]}`);
  }
}

async function consumer(label) {
  const stream = client.stream(streamName, false);
  const consumerOTP = await stream.getOtp();
  const ws = await stream.consumer(subscriptionName, BASE_URL.replace("https://", ""), {
    otp: consumerOTP,
    subscriptionType: "Shared",
  });
  ws.on("message", (msg) => {
    const { payload, messageId } = JSON.parse(msg);
    received[label].push(Buffer.from(payload, "base64").toString("ascii"));
    ws.send(JSON.stringify({ messageId }));
  });
  await opened(ws);
  return ws;
}

async function producer() {
  const stream = client.stream(streamName, false);
  const producerOTP = await stream.getOtp();
  const ws = await stream.producer(BASE_URL.replace("https://", ""), { otp: producerOTP });
  ws.on("message", (msg) => {
    if (JSON.parse(msg).result === "ok") publishAcks += 1;
    else publishErrors += 1;
  });
  await opened(ws);
  return ws;
}

async function main() {
  await createStream();
  const sockets = [await consumer("c1"), await consumer("c2")];
  const p = await producer();
  sockets.push(p);
  for (let i = 0; i < TOTAL; i += 1) {
    const message = `message ${i}`;
    p.send(JSON.stringify({ payload: Buffer.from(message).toString("base64") }));
  }
  const started = Date.now();
  while (received.c1.length + received.c2.length < TOTAL && Date.now() - started < DEADLINE_MS) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await new Promise((resolve) => setTimeout(resolve, 200)); // anything extra (a duplicate) would show now
  console.log(JSON.stringify({ received, publishAcks, publishErrors }));
  for (const ws of sockets) ws.terminate();
  process.exit(0);
}

main().catch((error) => {
  console.error(`jsc8 flow failed: ${error && error.stack ? error.stack : error}`);
  process.exit(1);
});
