// Shared by the kafkajs scripts that tests/integration/test_kafkajs.py runs:
// the JSON argument, a logger that keeps stdout for results, and JSON-line output.
'use strict'

const { Kafka, logLevel } = require('kafkajs')

// The test passes one JSON object as the only argument.
function args() {
  if (process.argv.length !== 3) {
    process.stderr.write('usage: node ' + process.argv[1] + " '<json>'\n")
    process.exit(2)
  }
  return JSON.parse(process.argv[2])
}

// kafkajs logs to stdout by default; its lines go to stderr here so stdout
// carries only the JSON lines the test reads.
const stderrLogger = () => ({ namespace, level, label, log }) => {
  const { message, ...extra } = log
  process.stderr.write(`[${label}] ${namespace}: ${message} ${JSON.stringify(extra)}\n`)
}

function client(a, clientId) {
  return new Kafka({
    clientId,
    brokers: a.brokers,
    logLevel: a.debug ? logLevel.DEBUG : logLevel.INFO,
    logCreator: stderrLogger,
    retry: { retries: 8, initialRetryTime: 100 },
    connectionTimeout: 3000,
    requestTimeout: 10000,
  })
}

// One event per line; the test reads them as they come.
function emit(event) {
  process.stdout.write(JSON.stringify(event) + '\n')
}

const hex = (buf) => (buf == null ? null : Buffer.from(buf).toString('hex'))

function headersToHex(headers) {
  const out = {}
  for (const [k, v] of Object.entries(headers || {})) {
    out[k] = Array.isArray(v) ? v.map(hex) : hex(v)
  }
  return out
}

// A script that does not finish in time fails loudly instead of hanging the test.
function deadline(ms, what) {
  const t = setTimeout(() => {
    process.stderr.write(`timed out after ${ms} ms: ${what}\n`)
    process.exit(3)
  }, ms)
  t.unref()
  return t
}

module.exports = { args, client, emit, hex, headersToHex, deadline }
