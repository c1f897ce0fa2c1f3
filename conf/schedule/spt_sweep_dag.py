"""An Airflow DAG that runs an spt sweep nightly with SparkSubmitOperator.

Needs apache-airflow-providers-apache-spark and a Spark connection (`spark_default`: the master
URL; deploy mode client, so the task's exit code is the sweep's). SPT_JAR is the cluster jar,
`mvn -B -DskipTests -Pcluster-jar package` -> jobs/target/spt-jobs-all.jar, copied where the
Airflow worker can read it. See README, "Scheduling sweeps": a sweep skips what the lake already
holds, so a retry or the next run finishes a failed one; on an S3 lake never run two at once
(max_active_runs=1 here).

Exit codes: 0 done; 1 finished with some tasks or trainings failed (a broken task does not stop the
others; the log's "failed:" lines name each with its reason, everything else is committed): the
retries below redo only what is missing, cheaply, and the run then ends failed, the signal to fix the
task's data; 2 bad input (an option, the backbone), which no retry fixes; 70 anything else.
For the papers' protocol add "--select-budget", "val200" and "--report-max-over-evals" to the args.
"""

from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

SPT_JAR = "/opt/spt/spt-jobs-all.jar"
OFFLINE = "-Dai.djl.offline=true"

with DAG(
    dag_id="spt_vtab_sweep",
    schedule="0 2 * * *",
    start_date=datetime(2026, 12, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10)},
) as dag:
    SparkSubmitOperator(
        task_id="sweep",
        conn_id="spark_default",
        application=SPT_JAR,
        java_class="org.sptspark.jobs.Spt",
        name="spt-sweep-vtab-1k",
        conf={
            # one gradient task per executor JVM (DJL allows one gradient collector per JVM)
            "spark.executor.cores": "4",
            "spark.task.cpus": "4",
            "spark.executor.memory": "16g",
            "spark.driver.extraJavaOptions": OFFLINE,
            "spark.executor.extraJavaOptions": OFFLINE,
        },
        application_args=[
            "sweep",
            "--suite", "vtab-1k",
            "--data", "s3a://BUCKET/vtab-1k",
            "--backbone", "s3a://BUCKET/ViT-B_16.npz",
            "--preset", "vit_base_patch16_224",
            "--lake", "s3a://BUCKET/lake",
            "--methods", "spt-lora,spt-adapter,lora,linear",
            "--budgets", "0.2M,0.4M,0.8M",
        ],
    )
