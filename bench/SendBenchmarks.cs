using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Perf.Batch;

namespace Perf.Bench;

/// <summary>
/// The ways to send 64/1200-byte datagrams with priorities 0-6 cycling, against the naive .NET baseline:
/// <c>Socket.SendTo</c> after <c>SetRawSocketOption(SOL_SOCKET, SO_PRIORITY)</c> per packet (SetSocketOption with option 12
/// throws EOPNOTSUPP on Linux, hence the raw form). Per datagram, to a loopback socket that is never read.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class SendBenchmarks
{
    private readonly byte[][] _priorityBytes = [.. Enumerable.Range(0, 7).Select(p => BitConverter.GetBytes(p))];
    private PacketReceiver _sink = null!;
    private Socket _socket = null!;
    private SocketAddress _dest = null!;
    private PacketSender _batched = null!;
    private PacketSender _single = null!;
    private DatagramAddress _target;
    private byte[] _payload = null!;

    [Params(64, 1200)]
    public int Payload { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _payload = new byte[Payload];
        _sink = BenchSupport.NeverReadSink();
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _batched = PacketSender.Create(new PacketSenderOptions { BatchSize = 64, RingSize = 1024, MaxDatagramSize = 2048 });
        _single = PacketSender.Create(new PacketSenderOptions { BatchSize = 1, RingSize = 1024, MaxDatagramSize = 2048 });

        // Check each body's output once, against a receiver that reads, then aim at the sink.
        BenchSupport.Verify(d => { Aim(d); SendToWithPriority(); }, Payload, checkPriority: true);
        BenchSupport.Verify(d => { Aim(d); SendToPlain(); }, Payload, checkPriority: false);
        BenchSupport.Verify(d => { Aim(d); SendmsgPerPacket(); }, Payload, checkPriority: true);
        BenchSupport.Verify(d => { Aim(d); SendmmsgBatch64(); }, Payload, checkPriority: true);
        Aim(_sink.LocalAddress);
    }

    private void Aim(DatagramAddress d)
    {
        _target = d;
        _dest = d.ToEndPoint().Serialize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _batched.Dispose();
        _single.Dispose();
        _socket.Dispose();
        _sink.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = BenchSupport.Ops, Description = "Socket.SendTo + SetRawSocketOption(SO_PRIORITY) per packet")]
    public void SendToWithPriority()
    {
        for (int i = 0; i < BenchSupport.Ops; i++)
        {
            _socket.SetRawSocketOption(1, 12, _priorityBytes[i % 7]);
            _socket.SendTo(_payload, SocketFlags.None, _dest);
        }
    }

    [Benchmark(OperationsPerInvoke = BenchSupport.Ops, Description = "Socket.SendTo, no priority")]
    public void SendToPlain()
    {
        for (int i = 0; i < BenchSupport.Ops; i++)
        {
            _socket.SendTo(_payload, SocketFlags.None, _dest);
        }
    }

    [Benchmark(OperationsPerInvoke = BenchSupport.Ops, Description = "PacketSender, batch 1 (one sendmmsg per packet)")]
    public void SendmsgPerPacket() => Run(_single);

    [Benchmark(OperationsPerInvoke = BenchSupport.Ops, Description = "PacketSender, sendmmsg batch 64")]
    public void SendmmsgBatch64() => Run(_batched);

    private void Run(PacketSender tx) => BenchSupport.SendOps(tx, _payload, in _target);
}

/// <summary>The sendmmsg backend across batch size, payload and priority cmsg on/off. Per datagram.</summary>
[MemoryDiagnoser]
public class SendmmsgBenchmarks
{
    private PacketReceiver _sink = null!;
    private PacketSender _tx = null!;
    private DatagramAddress _target;
    private byte[] _payload = null!;

    [Params(1, 8, 32, 64, 256)]
    public int Batch { get; set; }

    [Params(64, 1200)]
    public int Payload { get; set; }

    [Params(true, false)]
    public bool PriorityCmsg { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _payload = new byte[Payload];
        _sink = BenchSupport.NeverReadSink();
        _tx = PacketSender.Create(new PacketSenderOptions { BatchSize = Batch, RingSize = 1024, MaxDatagramSize = 2048, PerPacketPriority = PriorityCmsg });
        BenchSupport.Verify(d => { _target = d; Send(); }, Payload, checkPriority: PriorityCmsg);
        _target = _sink.LocalAddress;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _tx.Dispose();
        _sink.Dispose();
    }

    [Benchmark(OperationsPerInvoke = BenchSupport.Ops)]
    public void Send() => BenchSupport.SendOps(_tx, _payload, in _target);
}

/// <summary>What filling a slot costs without the kernel: copy, length, priority, destination. Per datagram.</summary>
[MemoryDiagnoser]
public class SlotRingBenchmarks
{
    private SlotRing _ring = null!;
    private DatagramAddress _dest;
    private byte[] _payload = null!;

    [Params(64, 1200)]
    public int Payload { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _ring = new SlotRing(BenchSupport.Ops, 2048, priorityCmsg: true);
        _dest = new DatagramAddress(IPAddress.Loopback, 9);
        _payload = new byte[Payload];
    }

    [GlobalCleanup]
    public void Cleanup() => _ring.Dispose();

    [Benchmark(OperationsPerInvoke = BenchSupport.Ops)]
    public void FillSlots()
    {
        for (int i = 0; i < BenchSupport.Ops; i++)
        {
            _payload.CopyTo(_ring.Payload(i));
            _ring.SetLength(i, _payload.Length);
            _ring.SetPriority(i, (uint)(i % 7));
            _ring.SetDestination(i, in _dest);
        }
    }
}

/// <summary>Encoding one SO_PRIORITY cmsg. Per cmsg.</summary>
[MemoryDiagnoser]
public unsafe class CmsgWriterBenchmarks
{
    private readonly byte[] _buffer = new byte[24 * BenchSupport.Ops];

    [Benchmark(OperationsPerInvoke = BenchSupport.Ops)]
    public int WritePriority()
    {
        int used = 0;
        fixed (byte* p = _buffer)
        {
            for (int i = 0; i < BenchSupport.Ops; i++)
            {
                used += CmsgWriter.WritePriority(p + (i * 24), (uint)i);
            }
        }

        return used;
    }
}
