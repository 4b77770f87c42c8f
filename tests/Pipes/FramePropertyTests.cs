using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Pipes;

/// <summary>
/// Generated frame streams through a real <see cref="PipeFeeder"/> and a real sender: well-formed ones, random bytes,
/// and well-formed ones mutated (a byte flipped, a length or destination kind broken, cut short, garbage appended).
/// A reference reader of the documented frame format says what must happen; the properties: no exception but
/// <see cref="InvalidDataException"/>, every good frame before a bad one is sent, and the reported byte offset is the
/// bad frame's. Seeded, so a failure names the case that reproduces it.
/// </summary>
[Trait(Lab.Trait, Lab.HostOnly)]
[Collection("Network")]
public sealed class FramePropertyTests
{
    private const int MaxPayload = 300;
    private const int HeaderSize = 12;

    // 100,000 streams on the host; the parser does not depend on the kernel, so the (emulated, ~20x slower) kernel lab
    // runs a tenth of them.
    private static int Cases => Lab.InLab ? 10_000 : 100_000;

    [Fact]
    public async Task GeneratedAndMutatedFrameStreamsSendEveryGoodFrameAndNameTheBadOnesOffset()
    {
        using PacketReceiver sink = PacketReceiver.Create(new PacketReceiverOptions { LocalAddress = new DatagramAddress(IPAddress.Loopback, 0), ReceiveBufferSize = 1 << 20 }); // never read
        // Mutated frames carry any priority; SetsockoptPerRun takes them all on every kernel (the socket-per-priority pool
        // would rightly refuse a 17th, which PipeFeederTests covers).
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions
        {
            ConnectTo = sink.LocalAddress,
            MaxDatagramSize = MaxPayload,
            RingSize = 64,
            AutoFlush = false,
            PriorityStrategy = PriorityStrategy.SetsockoptPerRun,
        });
        var rng = new Random(20261125);
        var stream = new MemoryStream();
        int malformed = 0;
        for (int i = 0; i < Cases; i++)
        {
            int seed = rng.Next();
            var r = new Random(seed);
            stream.SetLength(0);
            Generate(r, stream);
            byte[] bytes = stream.ToArray();
            (int good, long badOffset) = Reference(bytes);
            long sentBefore = tx.Stats.Sent;

            var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0, minimumSegmentSize: r.Next(1, 64)));
            for (int at = 0; at < bytes.Length;)
            {
                int n = Math.Min(bytes.Length - at, r.Next(1, 200)); // frames straddle writes and segments
                await pipe.Writer.WriteAsync(bytes.AsMemory(at, n), TestContext.Current.CancellationToken);
                at += n;
            }

            await pipe.Writer.CompleteAsync();
            var feeder = new PipeFeeder(pipe.Reader, tx);
            Exception? thrown = null;
            try
            {
                await feeder.RunAsync(TestContext.Current.CancellationToken);
            }
            catch (Exception e)
            {
                thrown = e;
            }

            string where = "case " + i + " (seed " + seed + ", " + bytes.Length + " bytes)";
            if (badOffset < 0)
            {
                Assert.True(thrown is null, where + ": a well-formed stream threw " + thrown);
            }
            else
            {
                malformed++;
                Assert.True(thrown is InvalidDataException, where + ": expected InvalidDataException, got " + (thrown?.GetType().Name ?? "none"));
                Assert.Contains("byte offset " + badOffset + " ", thrown!.Message);
            }

            Assert.True(feeder.Datagrams == good, where + ": fed " + feeder.Datagrams + " of " + good + " good frames");
            Assert.True(tx.Stats.Sent - sentBefore == good, where + ": sent " + (tx.Stats.Sent - sentBefore) + " of " + good);
            Assert.Equal(0, tx.Stats.Pending);
        }

        Assert.InRange(malformed, Cases / 4, Cases - (Cases / 10)); // both kinds were really generated
    }

    // A stream: 0-6 good frames, then one of: nothing, random bytes, or a mutation of the whole thing.
    private static void Generate(Random r, MemoryStream s)
    {
        int kind = r.Next(10);
        if (kind == 0)
        {
            byte[] junk = new byte[r.Next(0, 64)];
            r.NextBytes(junk);
            s.Write(junk);
            return;
        }

        int frames = r.Next(0, 7);
        for (int f = 0; f < frames; f++)
        {
            WriteFrame(s, r, r.Next(1, MaxPayload + 1));
        }

        byte[] all = s.GetBuffer();
        int length = (int)s.Length;
        switch (kind)
        {
            case 1 when length > 0:
                all[r.Next(length)] ^= (byte)r.Next(1, 256); // one flipped byte anywhere
                break;
            case 2:
                WriteHeader(s, r.Next(2) == 0 ? 0u : (uint)(MaxPayload + 1 + r.Next(70_000)), 0); // a bad length
                break;
            case 3:
                WriteHeader(s, 10, (byte)(r.Next(2) == 0 ? 4 : r.Next(7, 256))); // a destination kind a connected sender refuses
                break;
            case 4 when length > 0:
                s.SetLength(r.Next(length)); // cut short
                break;
            case 5:
                byte[] junk = new byte[r.Next(1, 40)];
                r.NextBytes(junk);
                s.Write(junk);
                break;
            default:
                break; // well-formed
        }
    }

    private static void WriteFrame(MemoryStream s, Random r, int length)
    {
        WriteHeader(s, (uint)length, 0);
        byte[] payload = new byte[length];
        r.NextBytes(payload);
        s.Write(payload);
    }

    private static void WriteHeader(MemoryStream s, uint length, byte kind)
    {
        Span<byte> h = stackalloc byte[HeaderSize];
        h.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(h, length);
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], (uint)(length % 7));
        h[8] = kind;
        s.Write(h);
    }

    // The frame format as README.md documents it, for a connected sender: u32 length (1..max), u32 priority, u8 kind
    // (0: none; 4 and 6 carry a destination, which a connected sender refuses; anything else is unknown), 3 reserved
    // bytes, payload. Returns the good frames and the offset of the first bad one (-1: none).
    private static (int Good, long BadOffset) Reference(byte[] b)
    {
        int good = 0;
        long at = 0;
        while (at < b.Length)
        {
            if (b.Length - at < HeaderSize)
            {
                return (good, at); // the stream ends inside a header
            }

            uint length = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan((int)at));
            byte kind = b[at + 8];
            if (length == 0 || length > MaxPayload || kind != 0)
            {
                return (good, at);
            }

            if (b.Length - at < HeaderSize + length)
            {
                return (good, at); // the stream ends inside the payload
            }

            at += HeaderSize + length;
            good++;
        }

        return (good, -1);
    }
}
