using System.Net;
using BenchmarkDotNet.Attributes;
using Perf.Batch;

namespace Perf.Bench;

/// <summary>
/// The enqueue path alone, no kernel: each invocation fills the 1024-slot ring (auto-flush off) and then ends what it
/// queued as failed (<c>FailQueued</c>, the same cost in every row, with no failure log), so the rows differ only in
/// how a datagram is described and written. Per datagram. The baseline is the <c>DatagramInfo</c> form; the shipped
/// <c>uint</c> overload, a destination, reserve + commit and a traffic class are measured beside it.
/// </summary>
[MemoryDiagnoser]
public class EnqueueBenchmarks
{
    private PacketSender _connected = null!;
    private PacketSender _unconnected = null!;
    private PacketSender _trafficClass = null!;
    private PacketReceiver _sink = null!;
    private DatagramAddress _target;
    private byte[] _payload = null!;

    [Params(64, 1200)]
    public int Payload { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _payload = new byte[Payload];
        _sink = BenchSupport.NeverReadSink();
        _target = _sink.LocalAddress;
        _connected = Create(_target, trafficClass: false, PriorityStrategy.Auto);

        // Before Linux 6.14 a traffic class per datagram needs MarkAndBpf (an SO_MARK cmsg where the priority cmsg
        // would be: the same cmsg space, and no kernel call is measured here).
        PriorityStrategy tc = _connected.Capabilities.PerPacketPriority ? PriorityStrategy.Cmsg : PriorityStrategy.MarkAndBpf;
        _unconnected = Create(default, trafficClass: false, PriorityStrategy.Auto);
        _trafficClass = Create(_target, trafficClass: true, tc);
    }

    private static PacketSender Create(DatagramAddress connectTo, bool trafficClass, PriorityStrategy strategy) => PacketSender.Create(new PacketSenderOptions
    {
        PriorityStrategy = strategy,
        ConnectTo = connectTo,
        LocalAddress = new DatagramAddress(IPAddress.Loopback, 0),
        RingSize = BenchSupport.Ops,
        MaxDatagramSize = 2048,
        AutoFlush = false,
        FailureLogCapacity = 0,
        PerPacketTrafficClass = trafficClass,
    });

    [GlobalCleanup]
    public void Cleanup()
    {
        _connected.Dispose();
        _unconnected.Dispose();
        _trafficClass.Dispose();
        _sink.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = BenchSupport.Ops, Description = "TryEnqueue(payload, in DatagramInfo)")]
    public void Info()
    {
        for (int i = 0; i < BenchSupport.Ops; i++)
        {
            var info = new DatagramInfo((uint)(i % 7));
            _connected.TryEnqueue(_payload, in info);
        }

        _connected.FailQueued(Errno.ECANCELED);
    }

    [Benchmark(OperationsPerInvoke = BenchSupport.Ops, Description = "TryEnqueue(payload, uint) (shipped overload)")]
    public void ShippedUint()
    {
        for (int i = 0; i < BenchSupport.Ops; i++)
        {
            _connected.TryEnqueue(_payload, (uint)(i % 7));
        }

        _connected.FailQueued(Errno.ECANCELED);
    }

    [Benchmark(OperationsPerInvoke = BenchSupport.Ops, Description = "TryEnqueue(payload, in info, in destination)")]
    public void WithDestination()
    {
        for (int i = 0; i < BenchSupport.Ops; i++)
        {
            var info = new DatagramInfo((uint)(i % 7));
            _unconnected.TryEnqueue(_payload, in info, in _target);
        }

        _unconnected.FailQueued(Errno.ECANCELED);
    }

    [Benchmark(OperationsPerInvoke = BenchSupport.Ops, Description = "TryReserve + copy + Commit(length, in info)")]
    public void ReserveCommit()
    {
        for (int i = 0; i < BenchSupport.Ops; i++)
        {
            _connected.TryReserve(out Span<byte> slot);
            _payload.CopyTo(slot);
            var info = new DatagramInfo((uint)(i % 7));
            _connected.Commit(_payload.Length, in info);
        }

        _connected.FailQueued(Errno.ECANCELED);
    }

    [Benchmark(OperationsPerInvoke = BenchSupport.Ops, Description = "TryEnqueue(payload, in info with a traffic class)")]
    public void WithTrafficClass()
    {
        for (int i = 0; i < BenchSupport.Ops; i++)
        {
            var info = new DatagramInfo((uint)(i % 7), TrafficClass: 0xB8);
            _trafficClass.TryEnqueue(_payload, in info);
        }

        _trafficClass.FailQueued(Errno.ECANCELED);
    }
}
