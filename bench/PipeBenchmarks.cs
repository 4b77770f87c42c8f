using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using Perf.Batch;

namespace Perf.Bench;

/// <summary>
/// The pipe-fed path: frames written into a <see cref="Pipe"/> and fed to a sender by <see cref="PipeFeeder"/> (inline
/// schedulers, so feeding runs inside the writer's flush), next to the same datagrams enqueued directly. Per datagram,
/// 64 B, priorities 0-6, to a loopback socket that is never read.
/// </summary>
[MemoryDiagnoser]
public class PipeBenchmarks
{
    private PacketReceiver _sink = null!;
    private PacketSender _direct = null!;
    private PacketSender _fed = null!;
    private Pipe _pipe = null!;
    private PipeFeeder _feeder = null!;
    private Task _feeding = null!;
    private readonly byte[] _payload = new byte[64];

    [GlobalSetup]
    public void Setup()
    {
        _sink = BenchSupport.NeverReadSink();
        _direct = PacketSender.Create(new PacketSenderOptions { ConnectTo = _sink.LocalAddress, BatchSize = 64 });
        _fed = PacketSender.Create(new PacketSenderOptions { ConnectTo = _sink.LocalAddress, BatchSize = 64 });
        _pipe = new Pipe(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false));
        _feeder = new PipeFeeder(_pipe.Reader, _fed);
        _feeding = _feeder.RunAsync().AsTask();
        long before = _fed.Stats.Sent;
        PipeFed();
        if (_fed.Stats.Sent - before != BenchSupport.Ops)
        {
            throw new InvalidOperationException("benchmark check: the pipe-fed sender sent " + (_fed.Stats.Sent - before) + " of " + BenchSupport.Ops);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pipe.Writer.Complete();
        _feeding.GetAwaiter().GetResult();
        _fed.Dispose();
        _direct.Dispose();
        _sink.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = BenchSupport.Ops)]
    public void Direct()
    {
        for (int i = 0; i < BenchSupport.Ops; i++)
        {
            _direct.TryEnqueue(_payload, (uint)(i % 7));
        }

        _direct.Flush();
    }

    [Benchmark(OperationsPerInvoke = BenchSupport.Ops)]
    public void PipeFed()
    {
        PipeWriter w = _pipe.Writer;
        for (int i = 0; i < BenchSupport.Ops; i++)
        {
            DatagramFrame.Write(w, _payload, (uint)(i % 7));
            if ((i & 63) == 63)
            {
                Flush(w.FlushAsync());
            }
        }
    }

    private static void Flush(ValueTask<System.IO.Pipelines.FlushResult> flush)
    {
        if (!flush.IsCompletedSuccessfully)
        {
            flush.AsTask().GetAwaiter().GetResult();
        }
    }
}

/// <summary>
/// The forwarder: a source sender pushes 64 datagrams (64 B, priorities 0-6) into the forwarder's input socket, then
/// one <see cref="PacketForwarder.RunOnce"/> receives and sends them on. Per datagram, so each figure holds one send by
/// the source plus one receive and one send by the forwarder; compare with SendBenchmarks' batch-64 send alone.
/// </summary>
[MemoryDiagnoser]
public class ForwarderBenchmarks
{
    private PacketReceiver _sink = null!;
    private PacketReceiver _input = null!;
    private PacketSender _output = null!;
    private PacketSender _source = null!;
    private PacketForwarder _forwarder = null!;
    private readonly byte[] _payload = new byte[64];

    [GlobalSetup]
    public void Setup()
    {
        _sink = BenchSupport.NeverReadSink();
        _input = PacketReceiver.Create(new PacketReceiverOptions { LocalAddress = new DatagramAddress(System.Net.IPAddress.Loopback, 0), MaxDatagramSize = 2048, ReceiveBufferSize = 4 << 20 });
        if (!_input.ReportsPriority)
        {
            // Before 6.14 no priority arrives; a forwarder then keys its map by the mark.
            _input.Dispose();
            _input = PacketReceiver.Create(new PacketReceiverOptions { LocalAddress = new DatagramAddress(System.Net.IPAddress.Loopback, 0), MaxDatagramSize = 2048, ReceiveBufferSize = 4 << 20, ReceiveMark = true });
        }

        _output = PacketSender.Create(new PacketSenderOptions { ConnectTo = _sink.LocalAddress });
        _source = PacketSender.Create(new PacketSenderOptions { ConnectTo = _input.LocalAddress, AutoFlush = false });
        _forwarder = new PacketForwarder(_input, _output);
        Forward();
        if (_forwarder.Stats.Forwarded != BenchSupport.Ops)
        {
            throw new InvalidOperationException("benchmark check: forwarded " + _forwarder.Stats.Forwarded + " of " + BenchSupport.Ops);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _source.Dispose();
        _output.Dispose();
        _input.Dispose();
        _sink.Dispose();
    }

    [Benchmark(OperationsPerInvoke = BenchSupport.Ops)]
    public void Forward()
    {
        for (int sent = 0; sent < BenchSupport.Ops; sent += 64)
        {
            for (int i = 0; i < 64; i++)
            {
                _source.TryEnqueue(_payload, (uint)(i % 7));
            }

            _source.Flush();
            for (int got = 0; got < 64;)
            {
                got += _forwarder.RunOnce(1000);
            }
        }
    }
}
