// Hypercore as a measuring stick for bench/replication_bench.py (not part of the product).
//
//   node replicate.mjs write DIR ENTRIES SIZE    make a core of ENTRIES entries of SIZE bytes
//   node replicate.mjs serve DIR                 serve it on 127.0.0.1 (prints "serving KEY PORT")
//   node replicate.mjs read DIR KEY PORT LENGTH  replicate it into DIR over TCP to PORT until it
//                                                holds LENGTH entries (prints "done LENGTH")
//
// Each connection is replicated over Hypercore's own encrypted stream (Noise, as over
// Hyperswarm), so the bytes a relay counts between the two are comparable with TLS.
import net from 'node:net'
import crypto from 'node:crypto'
import Hypercore from 'hypercore'

const [mode, dir, ...rest] = process.argv.slice(2)

async function write (entries, size) {
  const core = new Hypercore(dir)
  await core.ready()
  const batch = 2000
  for (let start = 0; start < entries; start += batch) {
    const blocks = []
    for (let i = start; i < Math.min(entries, start + batch); i++) blocks.push(crypto.randomBytes(size))
    await core.append(blocks)
  }
  console.log(`written ${core.length} ${core.byteLength}`)
  await core.close()
}

async function serve () {
  const core = new Hypercore(dir)
  await core.ready()
  const server = net.createServer((socket) => {
    socket.on('error', () => {})
    const stream = core.replicate(false)
    stream.on('error', () => {})
    socket.pipe(stream).pipe(socket)
  })
  server.listen(0, '127.0.0.1', () => {
    console.log(`serving ${core.key.toString('hex')} ${server.address().port} ${core.length}`)
  })
  const stop = async () => {
    server.close()
    await core.close()
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

async function read (key, port, length) {
  const core = new Hypercore(dir, Buffer.from(key, 'hex'))
  await core.ready()
  const socket = net.connect(port, '127.0.0.1')
  const stream = core.replicate(true)
  socket.pipe(stream).pipe(socket)
  if (core.contiguousLength >= length) {
    // already complete: one exchange to learn that the peer has nothing newer
    await core.update({ wait: true })
  } else {
    await core.download({ start: 0, end: length }).done()
  }
  if (core.contiguousLength < length) throw new Error(`only ${core.contiguousLength} of ${length}`)
  console.log(`done ${core.contiguousLength} ${core.length}`)
  stream.destroy()
  socket.destroy()
  await core.close()
}

if (mode === 'write') await write(Number(rest[0]), Number(rest[1]))
else if (mode === 'serve') await serve()
else if (mode === 'read') await read(rest[0], Number(rest[1]), Number(rest[2]))
else {
  console.error('usage: node replicate.mjs write|serve|read DIR ...')
  process.exit(2)
}
