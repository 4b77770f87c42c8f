using BenchmarkDotNet.Attributes;
using Perf.Batch;

namespace Perf.Bench;

/// <summary>
/// The io_uring backend (batch 64, registered file) plain, with SQPOLL, and with SENDMSG_ZC, next to the sendmmsg
/// backend at the same batch. Per datagram, to a loopback socket that is never read.
/// </summary>
[MemoryDiagnoser]
public class UringBenchmarks
{
    private PacketReceiver _sink = null!;
    private PacketSender _sendmmsg = null!;
    private PacketSender _uring = null!;
    private PacketSender _sqpoll = null!;
    private PacketSender _zeroCopy = null!;
    private DatagramAddress _target;
    private byte[] _payload = null!;

    [Params(64, 1200)]
    public int Payload { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _payload = new byte[Payload];
        _sink = BenchSupport.NeverReadSink();
        _sendmmsg = Create(SendBackendKind.Sendmmsg, new IoUringOptions());
        _uring = Create(SendBackendKind.IoUring, new IoUringOptions());
        _sqpoll = Create(SendBackendKind.IoUring, new IoUringOptions { SqPoll = true, SqPollIdleMs = 100 });
        _zeroCopy = Create(SendBackendKind.IoUring, new IoUringOptions { ZeroCopy = true });
        foreach (PacketSender s in new[] { _sendmmsg, _uring, _sqpoll, _zeroCopy })
        {
            BenchSupport.Verify(d => { _target = d; Run(s); }, Payload, checkPriority: true);
        }

        _target = _sink.LocalAddress;
    }

    private static PacketSender Create(SendBackendKind kind, IoUringOptions uring) =>
        PacketSender.Create(new PacketSenderOptions { Backend = kind, IoUring = uring, BatchSize = 64, RingSize = 1024, MaxDatagramSize = 2048 });

    [GlobalCleanup]
    public void Cleanup()
    {
        _sendmmsg.Dispose();
        _uring.Dispose();
        _sqpoll.Dispose();
        _zeroCopy.Dispose();
        _sink.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = BenchSupport.Ops)]
    public void Sendmmsg() => Run(_sendmmsg);

    [Benchmark(OperationsPerInvoke = BenchSupport.Ops)]
    public void IoUring() => Run(_uring);

    [Benchmark(OperationsPerInvoke = BenchSupport.Ops)]
    public void IoUringSqPoll() => Run(_sqpoll);

    [Benchmark(OperationsPerInvoke = BenchSupport.Ops)]
    public void IoUringZeroCopy() => Run(_zeroCopy);

    private void Run(PacketSender tx) => BenchSupport.SendOps(tx, _payload, in _target);
}
