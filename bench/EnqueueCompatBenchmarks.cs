using System.Net;
using BenchmarkDotNet.Attributes;
using Perf.Batch;

namespace Perf.Bench;

/// <summary>
/// The enqueue path through the API every version has (the priority as a <c>uint</c>), so this one file runs unchanged
/// against an older commit for a before/after comparison (bench/results/benchmarkdotnet-2026-12-08-enqueue.md): fill
/// the 1024-slot ring with auto-flush off, then end it all with <c>FailQueued</c>. Per datagram.
/// </summary>
[MemoryDiagnoser]
public class EnqueueCompatBenchmarks
{
    private PacketSender _connected = null!;
    private PacketSender _unconnected = null!;
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
        _connected = Create(_target);
        _unconnected = Create(default);
    }

    private static PacketSender Create(DatagramAddress connectTo) => PacketSender.Create(new PacketSenderOptions
    {
        ConnectTo = connectTo,
        LocalAddress = new DatagramAddress(IPAddress.Loopback, 0),
        RingSize = BenchSupport.Ops,
        MaxDatagramSize = 2048,
        AutoFlush = false,
        FailureLogCapacity = 0,
    });

    [GlobalCleanup]
    public void Cleanup()
    {
        _connected.Dispose();
        _unconnected.Dispose();
        _sink.Dispose();
    }

    [Benchmark(OperationsPerInvoke = BenchSupport.Ops)]
    public void Enqueue()
    {
        for (int i = 0; i < BenchSupport.Ops; i++)
        {
            _connected.TryEnqueue(_payload, (uint)(i % 7));
        }

        _connected.FailQueued(Errno.ECANCELED);
    }

    [Benchmark(OperationsPerInvoke = BenchSupport.Ops)]
    public void EnqueueTo()
    {
        for (int i = 0; i < BenchSupport.Ops; i++)
        {
            _unconnected.TryEnqueue(_payload, (uint)(i % 7), in _target);
        }

        _unconnected.FailQueued(Errno.ECANCELED);
    }

    [Benchmark(OperationsPerInvoke = BenchSupport.Ops)]
    public void ReserveCommit()
    {
        for (int i = 0; i < BenchSupport.Ops; i++)
        {
            _connected.TryReserve(out Span<byte> slot);
            _payload.CopyTo(slot);
            _connected.Commit(_payload.Length, (uint)(i % 7));
        }

        _connected.FailQueued(Errno.ECANCELED);
    }
}
