//! Examples shown at the end of the main commands' `--help`.

pub const NODE_CREATE: &str = "\
Examples:
  airlock node create n1                                   # a background node
  airlock node create n2 --tcp-listener-address 0.0.0.0:4001
  airlock node create ./airlock.yaml                       # everything from a configuration file
  airlock node create ./airlock.yaml --foreground          # the same in a container
  airlock node create hub --tcp-listener-address 0.0.0.0:4000 --kafka-bootstrap 127.0.0.1:9092 --trust-anyone
                                                           # a stream hub (docs/streams.md)";

pub const NODE_LOGS: &str = "\
Examples:
  airlock node logs n1 -n 20
  airlock node logs n1 --follow                            # keep printing; stop with Ctrl-C";

pub const TCP_OUTLET_CREATE: &str = "\
Examples:
  airlock tcp-outlet create --to 127.0.0.1:5432            # service `outlet` on the default node
  airlock tcp-outlet create --at n1 --from db --to db.internal:5432";

pub const TCP_INLET_CREATE: &str = "\
Examples:
  airlock tcp-inlet create --from 127.0.0.1:15432 --to /node/n1/secure/api/service/outlet
  airlock tcp-inlet create --from 127.0.0.1:17017 --via mongodb    # through the project relay `mongodb`
  airlock tcp-inlet create --via db --to db --alias orders-db      # outlet `db` behind relay `db`";

pub const KAFKA_OUTLET_CREATE: &str = "\
Examples:
  airlock kafka-outlet create                              # `kafka` -> 127.0.0.1:9092 on the default node
  airlock kafka-outlet create --at n1 --bootstrap-server kafka.internal:9092";

pub const KAFKA_INLET_CREATE: &str = "\
Examples:
  airlock kafka-inlet create                               # 127.0.0.1:9092 through the project relay `kafka`
  airlock kafka-inlet create --from 127.0.0.1:19092 --via orders --name orders-kafka
  airlock kafka-inlet create --to /node/n1/secure/api --brokers-port-range 19093-19099
  airlock kafka-inlet create --to /project/default/service/forward_to_kafka/secure/api --wait";

pub const KAFKA_PRODUCER_CREATE: &str = "\
Examples:
  airlock kafka-producer create                            # 127.0.0.1:9092 through the project relay `kafka`
  airlock kafka-consumer create --bootstrap-server 127.0.0.1:19092 --to /project/default
  airlock kafka-producer create --to /node/n1/secure/api --brokers-port-range 9093-9099
  airlock kafka-producer create --encrypted-field card --encrypted-field pin  # only these fields of JSON values";

pub const PROJECT_ADDON_CONFIGURE: &str = "\
Examples:
  airlock project addon configure kafka --bootstrap-server broker.example.com:9092 --tls
  airlock project addon configure kafka --bootstrap-server 127.0.0.1:19191 --tls --tls-ca-file ca.pem";

pub const PROJECT_TICKET: &str = "\
Examples:
  airlock project ticket --attribute role=db-client --expires-in 1h
  airlock project ticket --usage-count 3 --relay db > db-ticket.txt";

pub const PROJECT_ENROLL: &str = "\
Examples:
  airlock project enroll \"$TICKET\"                        # the whole line `project ticket` printed
  airlock project enroll db-ticket.txt --identity bank      # from a file, as identity `bank`
  ENROLLMENT_TICKET=\"$TICKET\" airlock project enroll";

pub const RELAY_CREATE: &str = "\
Examples:
  airlock relay create db                                  # at the default project
  airlock relay create n2 --at /node/n1 --to n2            # at another node";

pub const POLICY_CREATE: &str = "\
Examples:
  airlock policy create --resource-type tcp-outlet --expression '(= subject.role \"db-client\")'
  airlock policy create --resource db --allow 'db-client and not contractor'
  airlock policy create --resource-type kafka-outlet --allow kafka-client";
