using System.Net;
using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Planning;

/// <summary>
/// The production send loop (<see cref="SendLoop"/>: planner, strategy, backend, results, GSO learning), no sockets:
/// random queues (destinations, priorities, sizes) sent through a scripted backend that accepts, fails, pushes back or
/// refuses segmented messages at random, and a scripted strategy that may refuse a priority for a whole group. Checks
/// that every plan puts a slot in one message at most, that no run breaks its limits, that every datagram ends exactly
/// once and in order within its (destination, priority), that failures reach the log with their errno and enqueue
/// ordinal, that the counters add up, and that a refused GSO message is sent again within the limit learnt.
/// Seeded: a failure names the case that reproduces it.
/// </summary>
[Trait(Lab.Trait, Lab.EveryKernel)]
public sealed unsafe class SendLoopPropertyTests
{
    private static readonly DatagramAddress[] Destinations =
    [
        new(IPAddress.Parse("127.0.0.1"), 9000),
        new(IPAddress.Parse("127.0.0.1"), 9001),
        new(IPAddress.Parse("127.0.0.2"), 9000),
    ];

    private static readonly int[] Sizes = [64, 64, 64, 200, 1200, 1400, 1000];

    [Fact]
    public void RandomQueuesEndEveryDatagramOnceInOrderPerKey()
    {
        var seeds = new Random(20261207);
        int cases = Lab.InLab ? 40 : 600; // the kernel cannot change the outcome; the lab runs a few to show it
        for (int c = 0; c < cases; c++)
        {
            int seed = seeds.Next();
            try
            {
                using var run = new Case(seed);
                run.Run();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw new InvalidOperationException("send loop case seed " + seed + " failed: " + e.Message, e);
            }
        }
    }

    private sealed class Case : IDisposable
    {
        private readonly Random _r;
        private readonly int _capacity;
        private readonly int _total;
        private readonly int _priorities;
        private readonly bool _unconnected;
        private readonly bool _priorityKeyed;
        private readonly SlotRing _ring;
        private readonly SlotQueue _queue;
        private readonly SendPlanner _planner;
        private readonly FailureLog _failures;
        private readonly SendLoop _loop;
        private readonly SendLoopModel _model;

        internal Case(int seed)
        {
            _r = new Random(seed);
            _capacity = 64 << _r.Next(3);
            bool grouped = _r.Next(3) == 0;                    // SocketPerPriority / SetsockoptPerRun
            bool priorityCmsg = !grouped && _r.Next(4) != 0;   // Cmsg / MarkAndBpf; else per-packet priority off
            bool reorder = _r.Next(4) != 0;
            _unconnected = _r.Next(2) == 0;
            _priorityKeyed = grouped || priorityCmsg;
            int maxSegments = _r.Next(4) switch { 0 => 0, 1 => 4, 2 => 64, _ => 128 };
            int maxPages = _r.Next(4) == 0 ? 17 : 0;
            int batch = 1 + _r.Next(Math.Min(_capacity, 80));
            _priorities = 1 + _r.Next(9);
            _total = _capacity * (1 + _r.Next(6));
            // Under socket groups, one priority may be refused (EPERM where the process lacks CAP_NET_ADMIN).
            uint refused = grouped && _r.Next(3) == 0 ? (uint)_r.Next(_priorities) : uint.MaxValue;

            _ring = new SlotRing(_capacity, 1500, priorityCmsg);
            _queue = new SlotQueue(_capacity);
            _planner = new SendPlanner(_ring, _queue, batch, priorityCmsg, grouped, reorder, maxSegments, int.MaxValue, maxPages);
            _failures = new FailureLog(_total);
            _model = new SendLoopModel(_ring, _queue, _planner, _capacity, _unconnected, _priorityKeyed);
            var path = new ScriptedPath(_model, grouped, priorityCmsg, refused);
            var backend = new ScriptedBackend(_model, _planner, _r);
            _loop = new SendLoop(_ring, _queue, _planner, path, backend, new SafeFdHandle(), batch, _failures, timestamps: null);
        }

        public void Dispose()
        {
            _loop.Dispose(); // the planner with it
            _ring.Dispose();
        }

        internal void Run()
        {
            int passes = 0;
            while (_model.Ended < _total)
            {
                Refill();
                bool fullOnly = _queue.Tail < _total && _r.Next(4) == 0; // auto-flush's pass
                long sentBefore = _model.Sent, failedBefore = _model.Failed;
                SendProgress p = _loop.SendQueued(fullOnly);
                Assert.Equal(_model.Sent - sentBefore, p.Sent);
                Assert.Equal(_model.Failed - failedBefore, p.Failed);
                CheckFailureLog();
                _model.CheckHead();
                Assert.True(++passes < _total * 20, "no progress");
            }

            Assert.True(_queue.IsEmpty);
            CheckCounters();
            CheckFailQueued();
        }

        private void Refill()
        {
            int burst = _queue.IsEmpty ? 1 + _r.Next(_capacity) : _r.Next(_capacity + 1);
            while (_queue.HasFreeSlot && _queue.Tail < _total && burst-- > 0)
            {
                int index = _queue.TailIndex;
                // Runs need equal neighbours: repeat the last size most of the time.
                int size = _r.Next(4) == 0 || _queue.Tail == 0 ? Sizes[_r.Next(Sizes.Length)] : _ring.GetLength(_queue.IndexOf(_queue.Tail - 1));
                _ring.SetLength(index, size);
                _ring.SetPriority(index, (uint)_r.Next(_priorities));
                if (_unconnected)
                {
                    _ring.SetDestination(index, Destinations[_r.Next(Destinations.Length)]);
                }

                _model.Queued(index, _queue.Tail);
                _queue.Publish();
            }
        }

        // The loop's log holds each failure the backend or the strategy caused, in the order they ended, with the errno
        // and the enqueue ordinal the model expects.
        private void CheckFailureLog()
        {
            Span<FailedPacket> records = new FailedPacket[_failures.Count];
            int n = _failures.Drain(records);
            for (int i = 0; i < n; i++)
            {
                (long ordinal, int errno) = _model.TakeFailure();
                Assert.Equal(ordinal, records[i].Sequence);
                Assert.Equal(errno, records[i].Errno);
            }

            Assert.Equal(0, _model.FailuresWaiting);
        }

        private void CheckCounters()
        {
            SendCounters c = _loop.Counters;
            Assert.Equal(_model.Sent, c.Sent);
            Assert.Equal(_model.SentBytes, c.SentBytes);
            Assert.Equal(_model.SegmentedMessages, c.SegmentedMessages);
            Assert.Equal(_model.Failed, _failures.Failed);
            Assert.Equal(_model.Calls, c.SendCalls);
            Assert.Equal(_model.StoppedBy, c.SegmentationStoppedBy);
            Assert.True(_model.StoppedBy == 0 || !_planner.Segmenting, "segmenting after " + _model.StoppedBy);
        }

        // Teardown's path: what is still queued ends as failed, in queue order.
        private void CheckFailQueued()
        {
            int queued = Math.Min(_capacity, 5);
            long first = _queue.Tail;
            for (int i = 0; i < queued; i++)
            {
                _ring.SetLength(_queue.TailIndex, 64);
                _queue.Publish();
            }

            _loop.FailQueued(Errno.ECANCELED);
            Assert.True(_queue.IsEmpty);
            var records = new FailedPacket[queued];
            Assert.Equal(queued, _failures.Drain(records));
            for (int i = 0; i < queued; i++)
            {
                Assert.Equal(first + i, records[i].Sequence);
                Assert.Equal(Errno.ECANCELED, records[i].Errno);
            }
        }
    }
}
