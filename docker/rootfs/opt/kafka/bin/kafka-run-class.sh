#!/bin/sh
# kafka-run-class.sh CLASS [ARGS]: gregor has no JVM, so only the classes
# behind Kafka's own scripts run, as the built-in tool of the same name.
if [ $# -eq 0 ]; then
    echo "USAGE: $0 [-daemon] [-name servicename] [-loggc] classname [opts]" >&2
    exit 1
fi
while [ $# -gt 0 ]; do
    case "$1" in
        -daemon|-loggc) echo "kafka-run-class.sh: $1 has no effect in gregor" >&2; shift ;;
        -name) shift 2 ;;
        *) break ;;
    esac
done
class="$1"
shift
case "$class" in
    kafka.Kafka) tool=kafka-server-start ;;
    kafka.tools.StorageTool) tool=kafka-storage ;;
    kafka.tools.DumpLogSegments) tool=kafka-dump-log ;;
    org.apache.kafka.tools.TopicCommand|kafka.admin.TopicCommand) tool=kafka-topics ;;
    org.apache.kafka.tools.ConsoleProducer|kafka.tools.ConsoleProducer) tool=kafka-console-producer ;;
    org.apache.kafka.tools.consumer.ConsoleConsumer|kafka.tools.ConsoleConsumer) tool=kafka-console-consumer ;;
    org.apache.kafka.tools.consumer.group.ConsumerGroupCommand|kafka.admin.ConsumerGroupCommand) tool=kafka-consumer-groups ;;
    org.apache.kafka.tools.ConfigCommand|kafka.admin.ConfigCommand) tool=kafka-configs ;;
    org.apache.kafka.tools.BrokerApiVersionsCommand|kafka.admin.BrokerApiVersionsCommand) tool=kafka-broker-api-versions ;;
    org.apache.kafka.tools.GetOffsetShell|kafka.tools.GetOffsetShell) tool=kafka-get-offsets ;;
    org.apache.kafka.tools.ProducerPerformance) tool=kafka-producer-perf-test ;;
    org.apache.kafka.tools.ConsumerPerformance) tool=kafka-consumer-perf-test ;;
    org.apache.kafka.tools.MetadataQuorumCommand) tool=kafka-metadata-quorum ;;
    org.apache.kafka.tools.LeaderElectionCommand) tool=kafka-leader-election ;;
    org.apache.kafka.tools.LogDirsCommand) tool=kafka-log-dirs ;;
    org.apache.kafka.tools.DeleteRecordsCommand) tool=kafka-delete-records ;;
    org.apache.kafka.tools.TransactionsCommand) tool=kafka-transactions ;;
    org.apache.kafka.tools.FeatureCommand) tool=kafka-features ;;
    org.apache.kafka.tools.ClusterTool) tool=kafka-cluster ;;
    org.apache.kafka.tools.VerifiableProducer) tool=kafka-verifiable-producer ;;
    org.apache.kafka.tools.VerifiableConsumer) tool=kafka-verifiable-consumer ;;
    *) tool="" ;;
esac
if [ -n "$tool" ] && command -v "$tool" >/dev/null 2>&1; then
    exec "$tool" "$@"
fi
echo "Error: kafka-run-class.sh cannot run Java class $class: gregor has no JVM; its tools are the kafka-*.sh scripts in /opt/kafka/bin" >&2
exit 1
