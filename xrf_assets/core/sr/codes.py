"""DICOM concept codes of the X-ray radiation dose templates (TID 10001-10004), in one place.

Checked against ``shared/docs/dicom-dose-reference.md`` section 1. Content items are matched on
(CodeValue, CodingSchemeDesignator), never on CodeMeaning: vendors misspell meanings. pydicom's
``Code`` equality also maps legacy SRT codes to SCT, so ``FLUOROSCOPY == Code("P5-06000", "SRT")``.
"""

from __future__ import annotations

from pydicom.sr.coding import Code


def _dcm(value: str, meaning: str) -> Code:
    return Code(value, "DCM", meaning)


# Containers
XRAY_RADIATION_DOSE_REPORT = _dcm("113701", "X-Ray Radiation Dose Report")  # TID 10001 root
ACCUMULATED_XRAY_DOSE_DATA = _dcm("113702", "Accumulated X-Ray Dose Data")  # TID 10002
PROJECTION_XRAY = _dcm("113704", "Projection X-Ray")
IRRADIATION_EVENT_XRAY_DATA = _dcm("113706", "Irradiation Event X-Ray Data")  # TID 10003
CALIBRATION = _dcm("122505", "Calibration")
XRAY_FILTERS = _dcm("113771", "X-Ray Filters")

# Report context
PROCEDURE_REPORTED = _dcm("121058", "Procedure reported")
DEVICE_OBSERVER_UID = _dcm("121012", "Device Observer UID")
DEVICE_OBSERVER_MODEL_NAME = _dcm("121015", "Device Observer Model Name")
SCOPE_OF_ACCUMULATION = _dcm("113705", "Scope of Accumulation")
STUDY_INSTANCE_UID = _dcm("110180", "Study Instance UID")
PPS_SOP_INSTANCE_UID = _dcm("121126", "Performed Procedure Step SOP Instance UID")

# Event identity and timing
IRRADIATION_EVENT_UID = _dcm("113769", "Irradiation Event UID")
IRRADIATION_EVENT_UID_RETIRED = _dcm("113853", "Irradiation Event UID")
IRRADIATION_EVENT_TYPE = _dcm("113721", "Irradiation Event Type")
DATETIME_STARTED = _dcm("111526", "DateTime Started")
ACQUISITION_PROTOCOL = _dcm("125203", "Acquisition Protocol")
ACQUISITION_PLANE = _dcm("113764", "Acquisition Plane")
IRRADIATION_DURATION = _dcm("113742", "Irradiation Duration")
ACQUIRED_IMAGE = _dcm("113795", "Acquired Image")

# Event type values (CID 10002)
FLUOROSCOPY = Code("44491008", "SCT", "Fluoroscopy")
STATIONARY_ACQUISITION = _dcm("113611", "Stationary Acquisition")
STEPPING_ACQUISITION = _dcm("113612", "Stepping Acquisition")
ROTATIONAL_ACQUISITION = _dcm("113613", "Rotational Acquisition")

# Patient position on the table (TID 10003), values from CID 21/CID 20 (skin dose phantom placement)
PATIENT_ORIENTATION = _dcm("113743", "Patient Orientation")
PATIENT_ORIENTATION_MODIFIER = _dcm("113744", "Patient Orientation Modifier")
PATIENT_TABLE_RELATIONSHIP = _dcm("113745", "Patient Table Relationship")
HEADFIRST = Code("102540008", "SCT", "headfirst")
FEET_FIRST = Code("102541007", "SCT", "feet-first")
SUPINE = Code("40199007", "SCT", "supine")
PRONE = Code("1240000", "SCT", "prone")

# Plane values
PLANE_A = _dcm("113620", "Plane A")
PLANE_B = _dcm("113621", "Plane B")
SINGLE_PLANE = _dcm("113622", "Single Plane")

# Dose
DOSE_AREA_PRODUCT = _dcm("122130", "Dose Area Product")
DOSE_RP = _dcm("113738", "Dose (RP)")
REFERENCE_POINT_DEFINITION = _dcm("113780", "Reference Point Definition")

# Technique
FLUORO_MODE = _dcm("113732", "Fluoro Mode")
CONTINUOUS = _dcm("113630", "Continuous")
PULSED = _dcm("113631", "Pulsed")
PULSE_RATE = _dcm("113791", "Pulse Rate")
NUMBER_OF_PULSES = _dcm("113768", "Number of Pulses")
PULSE_WIDTH = _dcm("113793", "Pulse Width")
KVP = _dcm("113733", "KVP")
XRAY_TUBE_CURRENT = _dcm("113734", "X-Ray Tube Current")
AVERAGE_XRAY_TUBE_CURRENT = _dcm("113767", "Average X-Ray Tube Current")
EXPOSURE_TIME = _dcm("113824", "Exposure Time")
EXPOSURE_TIME_RETIRED = _dcm("113735", "Exposure Time")
EXPOSURE = _dcm("113736", "Exposure")
FOCAL_SPOT_SIZE = _dcm("113766", "Focal Spot Size")
XRAY_FILTER_TYPE = _dcm("113772", "X-Ray Filter Type")
XRAY_FILTER_MATERIAL = _dcm("113757", "X-Ray Filter Material")
XRAY_FILTER_THICKNESS_MINIMUM = _dcm("113758", "X-Ray Filter Thickness Minimum")
XRAY_FILTER_THICKNESS_MAXIMUM = _dcm("113773", "X-Ray Filter Thickness Maximum")
PATIENT_EQUIVALENT_THICKNESS = _dcm("111638", "Patient Equivalent Thickness")

# Geometry
COLLIMATED_FIELD_AREA = _dcm("113790", "Collimated Field Area")
COLLIMATED_FIELD_HEIGHT = _dcm("113788", "Collimated Field Height")
COLLIMATED_FIELD_WIDTH = _dcm("113789", "Collimated Field Width")
POSITIONER_PRIMARY_ANGLE = _dcm("112011", "Positioner Primary Angle")
POSITIONER_SECONDARY_ANGLE = _dcm("112012", "Positioner Secondary Angle")
POSITIONER_PRIMARY_END_ANGLE = _dcm("113739", "Positioner Primary End Angle")
POSITIONER_SECONDARY_END_ANGLE = _dcm("113740", "Positioner Secondary End Angle")
COLUMN_ANGULATION = _dcm("113770", "Column Angulation")
TABLE_HEAD_TILT_ANGLE = _dcm("113754", "Table Head Tilt Angle")
TABLE_HORIZONTAL_ROTATION_ANGLE = _dcm("113755", "Table Horizontal Rotation Angle")
TABLE_CRADLE_TILT_ANGLE = _dcm("113756", "Table Cradle Tilt Angle")
DISTANCE_SOURCE_TO_ISOCENTER = _dcm("113748", "Distance Source to Isocenter")
DISTANCE_SOURCE_TO_DETECTOR = _dcm("113750", "Distance Source to Detector")
DISTANCE_SOURCE_TO_REFERENCE_POINT = _dcm("113737", "Distance Source to Reference Point")
DISTANCE_SOURCE_TO_TABLE_PLANE = _dcm("113792", "Distance Source to Table Plane")
TABLE_LONGITUDINAL_POSITION = _dcm("113751", "Table Longitudinal Position")
TABLE_LATERAL_POSITION = _dcm("113752", "Table Lateral Position")
TABLE_HEIGHT_POSITION = _dcm("113753", "Table Height Position")

# Accumulated totals (TID 10002 / 10004)
FLUORO_DAP_TOTAL = _dcm("113726", "Fluoro Dose Area Product Total")
FLUORO_DOSE_RP_TOTAL = _dcm("113728", "Fluoro Dose (RP) Total")
TOTAL_FLUORO_TIME = _dcm("113730", "Total Fluoro Time")
ACQUISITION_DAP_TOTAL = _dcm("113727", "Acquisition Dose Area Product Total")
ACQUISITION_DOSE_RP_TOTAL = _dcm("113729", "Acquisition Dose (RP) Total")
TOTAL_ACQUISITION_TIME = _dcm("113855", "Total Acquisition Time")
DAP_TOTAL = _dcm("113722", "Dose Area Product Total")
DOSE_RP_TOTAL = _dcm("113725", "Dose (RP) Total")
TOTAL_NUMBER_OF_RADIOGRAPHIC_FRAMES = _dcm("113731", "Total Number of Radiographic Frames")

# Report context read to tell radiography from fluoroscopy reports (TID 10001, CID 10032)
ACQUISITION_DEVICE_TYPE = _dcm("122142", "Acquisition Device Type")
FLUOROSCOPY_GUIDED_SYSTEM = _dcm("113957", "Fluoroscopy-Guided Projection Radiography System")
INTEGRATED_RADIOGRAPHY_SYSTEM = _dcm("113958", "Integrated Projection Radiography System")
CASSETTE_BASED_RADIOGRAPHY_SYSTEM = _dcm("113959", "Cassette-based Projection Radiography System")
CALIBRATION_FACTOR = _dcm("122322", "Calibration Factor")
