using BenchmarkDotNet.Attributes;
using Perf.Batch;

namespace Perf.Bench;

/// <summary>
/// UDP GSO end to end: runs of <see cref="Burst"/> datagrams of one priority, segmentation on or off, to a loopback
/// socket that is never read. Per datagram. At Burst 1 the priority changes on every datagram: Auto groups the flush by
/// priority and still sends runs; Off sends one message per datagram.
/// </summary>
[MemoryDiagnoser]
public class SegmentationBenchmarks
{
    private PacketReceiver _sink = null!;
    private PacketSender _tx = null!;
    private DatagramAddress _target;
    private byte[] _payload = null!;

    [Params(1, 16)]
    public int Burst { get; set; }

    [Params(1200, 64)]
    public int Payload { get; set; }

    [Params(SegmentationMode.Auto, SegmentationMode.Off)]
    public SegmentationMode Segmentation { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _payload = new byte[Payload];
        _sink = BenchSupport.NeverReadSink();
        _tx = PacketSender.Create(new PacketSenderOptions { BatchSize = 64, RingSize = BenchSupport.Ops, MaxDatagramSize = 2048, Segmentation = Segmentation });
        BenchSupport.Verify(d => { _target = d; Send(); }, Payload, checkPriority: true, i => (uint)(i / Burst % 7));
        _target = _sink.LocalAddress;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _tx.Dispose();
        _sink.Dispose();
    }

    [Benchmark(OperationsPerInvoke = BenchSupport.Ops)]
    public void Send()
    {
        int burst = Burst;
        for (int i = 0; i < BenchSupport.Ops; i++)
        {
            _tx.TryEnqueue(_payload, (uint)(i / burst % 7), in _target);
        }

        _tx.Flush();
    }
}

/// <summary>
/// The planner alone, no kernel: cutting <see cref="BenchSupport.Ops"/> queued datagrams into messages, with runs of
/// <see cref="Burst"/> (1: none form, and the plan stays the ring's own mmsghdr array). Per datagram.
/// </summary>
[MemoryDiagnoser]
public class PlannerBenchmarks
{
    private SlotRing _ring = null!;
    private SendPlanner _planner = null!;
    private SlotQueue _queue = null!;

    [Params(1, 16)]
    public int Burst { get; set; }

    /// <summary>Gather by priority (the default) or cut runs from neighbours only (StrictPriorityOrder).</summary>
    [Params(true, false)]
    public bool Grouped { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _ring = new SlotRing(BenchSupport.Ops, 2048, priorityCmsg: true);
        for (int i = 0; i < BenchSupport.Ops; i++)
        {
            _ring.SetLength(i, 1200);
            _ring.SetPriority(i, (uint)(i / Burst % 7));
        }

        _queue = new SlotQueue(_ring.Capacity);
        for (int i = 0; i < BenchSupport.Ops; i++)
        {
            _queue.Publish();
        }

        _planner = new SendPlanner(_ring, _queue, batch: 64, priorityCmsg: true, grouped: false, reorder: Grouped, maxSegments: 64, maxSegmentSize: int.MaxValue);
        Plan();
        int expected = Grouped ? 54 : Burst; // grouped: full runs, 54 of 1200 B fit one IP datagram
        if (_planner.Segments(0) != expected)
        {
            throw new InvalidOperationException("benchmark check: the first message carries " + _planner.Segments(0) + " datagrams, expected " + expected);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _planner.Dispose();
        _ring.Dispose();
    }

    [Benchmark(OperationsPerInvoke = BenchSupport.Ops)]
    public int Plan()
    {
        // Plan the whole ring as a sender's flush would, a batch of messages at a time.
        int messages = 0;
        int planned = 0;
        while (planned < BenchSupport.Ops)
        {
            _planner.Plan();
            (int first, int end) = _planner.GroupMessages(0);
            messages += end - first;
            int datagrams = _planner.PlannedDatagrams;
            planned += datagrams;

            // As a flush would: what was planned ends at the head, and the same slots are queued again at the tail.
            _queue.EndAtHead(datagrams);
            for (int i = 0; i < datagrams; i++)
            {
                _queue.Publish();
            }
        }

        return messages;
    }
}
