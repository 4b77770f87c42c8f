using System.Globalization;
using Perf.Batch;

// Usage: Perf.Tests.Child DEST PRIORITIES BATCH [BACKEND] [SEGMENTATION] [STRATEGY]
//   DEST          127.0.0.1:PORT
//   PRIORITIES    comma-separated, one datagram each; payload = 8-byte LE sequence
//   BATCH         datagrams per sendmmsg call / io_uring_enter
//   BACKEND       Sendmmsg (default), IoUring or Auto
//   SEGMENTATION  Auto (default), On or Off (UDP GSO)
//   STRATEGY      Auto (default), Cmsg, SocketPerPriority, SetsockoptPerRun or MarkAndBpf
// Prints "caps <privileged 0|1> strategy <S> ordered <0|1>", one "fail <seq> <errno>" per failed datagram, then the counts.
// Prints "caps <privileged 0|1>", one "fail <seq> <errno>" per failed datagram, then "sent <n> failed <m>".
if (args.Length is < 3 or > 6)
{
    Console.Error.WriteLine("usage: Perf.Tests.Child DEST PRIORITIES BATCH [BACKEND] [SEGMENTATION] [STRATEGY]");
    return 2;
}

DatagramAddress dest = DatagramAddress.Parse(args[0]);
string[] prios = args[1].Split(',');
int batch = int.Parse(args[2], CultureInfo.InvariantCulture);
SendBackendKind backend = args.Length >= 4 ? Enum.Parse<SendBackendKind>(args[3]) : SendBackendKind.Sendmmsg;
SegmentationMode segmentation = args.Length >= 5 ? Enum.Parse<SegmentationMode>(args[4]) : SegmentationMode.Auto;
PriorityStrategy strategy = args.Length == 6 ? Enum.Parse<PriorityStrategy>(args[5]) : PriorityStrategy.Auto;
using var sender = PacketSender.Create(new PacketSenderOptions
{
    ConnectTo = dest, BatchSize = batch, RingSize = 1024, AutoFlush = false, Backend = backend, Segmentation = segmentation, PriorityStrategy = strategy,
});
Console.WriteLine("caps " + (sender.Capabilities.PrivilegedPriorities ? "1" : "0") + " strategy " + sender.PriorityStrategy + " ordered " + (sender.PreservesOrder ? "1" : "0"));
Span<byte> payload = stackalloc byte[8];
for (int i = 0; i < prios.Length; i++)
{
    BitConverter.TryWriteBytes(payload, (long)i);
    if (!sender.TryEnqueue(payload, uint.Parse(prios[i], CultureInfo.InvariantCulture)))
    {
        sender.Flush();
        i--;
    }
}

FlushOutcome r = sender.Flush();
var failures = new FailedPacket[sender.FailureRecordCount];
sender.DrainFailures(failures);
foreach (FailedPacket f in failures)
{
    Console.WriteLine("fail " + f.Sequence.ToString(CultureInfo.InvariantCulture) + " " + f.Errno.ToString(CultureInfo.InvariantCulture));
}

SenderStats s = sender.Stats;
Console.WriteLine("sent " + s.Sent.ToString(CultureInfo.InvariantCulture) + " failed " + s.Failed.ToString(CultureInfo.InvariantCulture) + " pending " + r.Pending.ToString(CultureInfo.InvariantCulture) +
    " segmented " + s.SegmentedMessages.ToString(CultureInfo.InvariantCulture) + "/" + s.SegmentedDatagrams.ToString(CultureInfo.InvariantCulture));
return 0;
