CREATE TABLE "delivery_blocks" (
	"platform" text NOT NULL,
	"lane" text NOT NULL,
	"blocked_until" timestamp with time zone NOT NULL,
	CONSTRAINT "delivery_blocks_platform_lane_pk" PRIMARY KEY("platform","lane")
);
