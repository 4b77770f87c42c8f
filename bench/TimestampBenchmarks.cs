using BenchmarkDotNet.Attributes;
using Perf.Batch;

namespace Perf.Bench;

/// <summary>
/// What TxTimestamps costs a sender: the same 1024 datagrams (64 B, priorities 0-6 cycling, to a never-read loopback
/// sink) with and without SO_TIMESTAMPING, the records drained after each flush as a reporter would. With GSO off every
/// datagram is its own skb with its own two reports; with GSO auto a run of one priority shares one pair. Per datagram.
/// </summary>
[MemoryDiagnoser]
public class TimestampBenchmarks
{
    private readonly TxTimestamp[] _records = new TxTimestamp[4096];
    private PacketReceiver _sink = null!;
    private PacketSender _tx = null!;
    private DatagramAddress _target;
    private byte[] _payload = null!;

    [Params(false, true)]
    public bool TxTimestamps { get; set; }

    [Params(SegmentationMode.Off, SegmentationMode.Auto)]
    public SegmentationMode Segmentation { get; set; }

    [Params(SendBackendKind.Sendmmsg, SendBackendKind.IoUring)]
    public SendBackendKind Backend { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _payload = new byte[64];
        _sink = BenchSupport.NeverReadSink();
        _tx = PacketSender.Create(new PacketSenderOptions
        {
            BatchSize = 64,
            RingSize = 1024,
            MaxDatagramSize = 2048,
            Backend = Backend,
            Segmentation = Segmentation,
            TxTimestamps = TxTimestamps,
        });
        BenchSupport.Verify(d => { _target = d; Send(); }, _payload.Length, checkPriority: true);
        _target = _sink.LocalAddress;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _tx.Dispose();
        _sink.Dispose();
    }

    [Benchmark(OperationsPerInvoke = BenchSupport.Ops)]
    public int Send()
    {
        BenchSupport.SendOps(_tx, _payload, in _target);
        int drained = 0, n;
        while ((n = _tx.DrainTxTimestamps(_records)) > 0)
        {
            drained += n;
        }

        return drained;
    }
}
